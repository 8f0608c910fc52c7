/// The ABI number of the plugin contract that the *calling* binary was compiled against.
///
/// It is emitted into every client, so a plugin carries the number it was built with and the
/// host carries its own; neither reads it from the loaded `libAioRunPluginAPI.so`.
/// Bump it on any change to a public type or public function body of this module.
@_alwaysEmitIntoClient
public var AIORUN_PLUGIN_ABI: UInt32 { 1 }

/// The human-readable version of the API package, compiled into the client like the ABI number.
@_alwaysEmitIntoClient
public var AIORUN_PLUGIN_API_VERSION: String { "1.0.0" }

/// Reports the ABI number of the `libAioRunPluginAPI.so` that is actually loaded.
///
/// The host finds this symbol with `dlsym` and compares it with its compiled-in
/// ``AIORUN_PLUGIN_ABI``. A Swift call would be inlined by the optimizer and always agree; only a
/// C symbol resolved at run time proves which library copy the process mapped.
@c(aiorun_api_abi)
public func aiorunLoadedAPIABI() -> UInt32 {
    1
}
