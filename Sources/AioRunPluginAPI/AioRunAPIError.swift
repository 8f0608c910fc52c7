/// An error raised by the plugin API itself.
///
/// It is a struct with a ``Code`` rather than an enum, like swift-service-lifecycle's
/// `ServiceGroupError`, so that a later API version can add codes without breaking plugins that
/// inspect errors: compare ``code`` with the static members of ``Code`` (see README "Writing a
/// plugin", "How the API evolves").
public struct AioRunAPIError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is. New codes may be added in any API version.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case noCurrentContext
            case executorClosed
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// A free function such as `shutdownWaitsFor(_:file:line:_:)` was called outside any
        /// AioRun-managed task, so there is no lifecycle to attach the work to.
        public static let noCurrentContext = Code(.noCurrentContext)
        /// The plugin's executor pool no longer accepts jobs because its teardown has begun.
        public static let executorClosed = Code(.executorClosed)

        /// The code's name, for logs.
        public var description: String {
            switch value {
            case .noCurrentContext: return "noCurrentContext"
            case .executorClosed: return "executorClosed"
            }
        }
    }

    /// What kind of failure this is.
    public let code: Code
    /// One line naming what failed and why.
    public let description: String

    private init(code: Code, description: String) {
        self.code = code
        self.description = description
    }

    /// `function` was called outside an AioRun-managed task (no ``PluginContext/current``).
    public static func noCurrentContext(function: String) -> AioRunAPIError {
        AioRunAPIError(
            code: .noCurrentContext,
            description: "\(function) was called outside an AioRun-managed task (no PluginContext.current)"
        )
    }

    /// The executor pool of `plugin` is draining for shutdown and refused `job`.
    public static func executorClosed(plugin: String, job: String) -> AioRunAPIError {
        AioRunAPIError(
            code: .executorClosed,
            description: "executor pool of plugin \(plugin) is draining for shutdown; job \(job) was refused"
        )
    }
}
