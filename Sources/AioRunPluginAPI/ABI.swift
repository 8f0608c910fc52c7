/// The ABI number of the plugin contract that the *calling* binary was compiled against.
///
/// It is emitted into every client, so a plugin carries the number it was built with and the
/// host carries its own; neither reads it from the loaded `libAioRunPluginAPI.so`. The host
/// refuses a plugin whose number differs from its own.
///
/// Bump it only for a change that breaks plugins already built: removing or renaming a public
/// declaration, changing a signature or a `@frozen`/`@_alwaysEmitIntoClient`/`@inlinable` body,
/// changing the library's build mode. Additive changes bump only ``AIORUN_PLUGIN_API_VERSION``;
/// see README "Writing a plugin", "How the API evolves".
///
/// 2: `AioRunAPIError` became a struct with a `Code`; the library is built with library evolution.
/// API 2.1 added readiness (``PluginReadiness``, ``PluginContext/reportReady()``), failure reports
/// (``PluginContext/reportFailure(_:)``), ``PluginContext/isDraining`` and
/// ``PluginContext/shutdownTimeout``. API 2.2 added shielded work with a handle (``ShieldedTask``,
/// ``PluginContext/startShield(_:file:line:_:)``), stopping with an error
/// (``PluginContext/requestShutdown(error:)``) and the context's functions as free functions for
/// in-process programs (``spawn(_:file:line:_:)``, ``onShutdown(_:file:line:_:)``,
/// ``requestShutdown(reason:)``, ``executor``, ``startShield(_:file:line:_:)``).
@_alwaysEmitIntoClient
public var AIORUN_PLUGIN_ABI: UInt32 { 2 }

/// The version of the API package (major.minor.patch), compiled into the client like the ABI
/// number. The major is the ABI number; the minor grows with each additive change, so a plugin
/// built against `2.0` runs in a host with `2.1`, while one built against `2.1` may use what a
/// `2.0` host lacks.
@_alwaysEmitIntoClient
public var AIORUN_PLUGIN_API_VERSION: String { "2.2.0" }

/// Reports the ABI number of the `libAioRunPluginAPI.so` that is actually loaded.
///
/// The host finds this symbol with `dlsym` and compares it with its compiled-in
/// ``AIORUN_PLUGIN_ABI``. A Swift call would be inlined by the optimizer and always agree; only a
/// C symbol resolved at run time proves which library copy the process mapped.
@c(aiorun_api_abi)
public func aiorunLoadedAPIABI() -> UInt32 {
    2
}
