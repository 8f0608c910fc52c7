/// What a plugin's `aiorun_plugin_entry` hands to the host: its name and how to create it.
///
/// The host receives it as a +1 retained object and casts it with `as?`. That cast only works
/// because host and plugin share one copy of this module's metadata (see README "Writing a plugin").
public final class PluginDescriptor: Sendable {
    /// The plugin's name: `[a-z0-9][a-z0-9_-]{0,63}`, unique within one host.
    public let name: String
    /// The ABI number the plugin was compiled against.
    public let abi: UInt32
    /// The API package version the plugin was compiled against.
    public let apiVersion: String
    /// Creates the plugin instance. Throwing rejects the plugin before anything runs.
    public let make: @Sendable (PluginContext) throws -> any AioRunPlugin
    /// How the plugin becomes ready (API 2.1; ``PluginReadiness/atStart`` for plugins built
    /// before it).
    public let readiness: PluginReadiness

    /// Creates a descriptor of a plugin that is ready at start. Runtime only: plugins call
    /// ``aiorunExportPlugin(hostABI:pluginABI:name:make:)``. (The ABI 2.0 initializer, kept.)
    @_spi(AioRunRuntime)
    public init(
        name: String,
        abi: UInt32,
        apiVersion: String,
        make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) {
        self.name = name
        self.abi = abi
        self.apiVersion = apiVersion
        self.readiness = .atStart
        self.make = make
    }

    /// Creates a descriptor (API 2.1). Runtime only: plugins call
    /// ``aiorunExportPlugin(hostABI:pluginABI:name:readiness:make:)``.
    @_spi(AioRunRuntime)
    public init(
        name: String,
        abi: UInt32,
        apiVersion: String,
        readiness: PluginReadiness,
        make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) {
        self.name = name
        self.abi = abi
        self.apiVersion = apiVersion
        self.readiness = readiness
        self.make = make
    }
}

extension PluginDescriptor {
    /// The path by which ``aiorunExportPlugin(hostABI:pluginABI:name:make:)``, emitted into each
    /// plugin, creates its descriptor: callable from that inlined body, invisible to plugin source.
    @usableFromInline
    static func exported(
        name: String,
        abi: UInt32,
        apiVersion: String,
        make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) -> PluginDescriptor {
        PluginDescriptor(name: name, abi: abi, apiVersion: apiVersion, make: make)
    }

    /// ``exported(name:abi:apiVersion:make:)`` with the plugin's declared readiness (API 2.1).
    @usableFromInline
    static func exported(
        name: String,
        abi: UInt32,
        apiVersion: String,
        readiness: PluginReadiness,
        make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
    ) -> PluginDescriptor {
        PluginDescriptor(name: name, abi: abi, apiVersion: apiVersion, readiness: readiness, make: make)
    }
}

/// The whole body of a plugin's exported entry point.
///
/// Write the entry like this, and nothing else:
///
///     @c(aiorun_plugin_entry)
///     public func aiorunPluginEntry(
///         _ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?
///     ) -> UnsafeMutableRawPointer? {
///         aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "hello") { HelloPlugin(context: $0) }
///     }
///
/// It writes the ABI number compiled into the plugin to `pluginABI`, returns `nil` when the host's
/// number differs, and otherwise returns a +1 retained ``PluginDescriptor``. The body is emitted
/// into the plugin, so the number it reports is the plugin's own.
@_alwaysEmitIntoClient
public func aiorunExportPlugin(
    hostABI: UInt32,
    pluginABI: UnsafeMutablePointer<UInt32>?,
    name: String,
    make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
) -> UnsafeMutableRawPointer? {
    pluginABI?.pointee = AIORUN_PLUGIN_ABI
    guard hostABI == AIORUN_PLUGIN_ABI else { return nil }
    let descriptor = PluginDescriptor.exported(
        name: name,
        abi: AIORUN_PLUGIN_ABI,
        apiVersion: AIORUN_PLUGIN_API_VERSION,
        make: make
    )
    return Unmanaged.passRetained(descriptor).toOpaque()
}

/// ``aiorunExportPlugin(hostABI:pluginABI:name:make:)`` for a plugin that declares how it becomes
/// ready (API 2.1; README, "Readiness and ordered start"):
///
///     aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "web", readiness: .whenReported) {
///         WebPlugin(context: $0)
///     }
///
/// With ``PluginReadiness/whenReported`` the plugin calls ``PluginContext/reportReady()`` once it
/// serves; the host waits for that, within the plugin's startup time limit, before it starts the
/// next plugin and before it announces readiness.
@_alwaysEmitIntoClient
public func aiorunExportPlugin(
    hostABI: UInt32,
    pluginABI: UnsafeMutablePointer<UInt32>?,
    name: String,
    readiness: PluginReadiness,
    make: @escaping @Sendable (PluginContext) throws -> any AioRunPlugin
) -> UnsafeMutableRawPointer? {
    pluginABI?.pointee = AIORUN_PLUGIN_ABI
    guard hostABI == AIORUN_PLUGIN_ABI else { return nil }
    let descriptor = PluginDescriptor.exported(
        name: name,
        abi: AIORUN_PLUGIN_ABI,
        apiVersion: AIORUN_PLUGIN_API_VERSION,
        readiness: readiness,
        make: make
    )
    return Unmanaged.passRetained(descriptor).toOpaque()
}
