// A plugin's tests see the plugin API (`PluginContext`, `PluginConfigError`, …) with
// `import AioRunTestKit` alone, as the plugin itself does with `import AioRunPluginAPI`.
@_exported import AioRunPluginAPI
