import AioRunPluginAPI

/// start-1 / start-100: does nothing. Readiness is the host's own `ready: N plugins running`.
final class BenchEmpty: AioRunPlugin {
    init(context: PluginContext) {}
    func run() async throws {}
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-empty") { BenchEmpty(context: $0) }
}
