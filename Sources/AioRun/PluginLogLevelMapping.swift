import AioRunPluginAPI
import Logging

/// The mapping between swift-log's levels and the plugin API's, for the sink behind each
/// context's `log` (see ``LifecycleManager``).
extension Logger.Level {
    init(pluginRank: Int) {
        self = Logger.Level.allCases.first { $0.pluginLevel.rawValue == pluginRank } ?? .info
    }

    var pluginLevel: PluginLogLevel {
        switch self {
        case .trace: return .trace
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }
}
