#!/usr/bin/env bash
# Library evolution for the plugin API, measured (README "Writing a plugin", "How the API
# evolves"). Builds Sources/AioRunPluginAPI twice, as a fragile and as a resilient library, plus a
# "next minor" copy of each with a stored property added first in PluginContext and PluginLog.
# Then, for each mode:
#   - LayoutProbe, built against the unchanged library, runs on the changed one: a fragile build
#     reads the wrong fields (or crashes), a resilient one reads them right;
#   - CallCost (-O) times calls through the context: medians, in ns per call.
# Usage: Tests/Fixtures/APIEvolution/measure.sh [scratch folder]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
api="$here/../../../Sources/AioRunPluginAPI"
work="${1:-$(mktemp -d)}"
mkdir -p "$work/next-src"
cp "$api"/*.swift "$work/next-src/" && rm "$work/next-src/Package.swift"
python3 - "$work/next-src" <<'PY'
import sys
folder = sys.argv[1]
for name, old, new in [
    ("PluginContext.swift", "public final class PluginContext: Sendable {\n",
     "public final class PluginContext: Sendable {\n    public let addedFirst: [String] = [\"added\"]\n"),
    ("PluginLog.swift", "public struct PluginLog: Sendable {\n",
     "public struct PluginLog: Sendable {\n    public let addedNote: String = \"2.1\"\n"),
]:
    path = f"{folder}/{name}"
    text = open(path).read()
    assert old in text, f"{name} changed shape; update measure.sh"
    open(path, "w").write(text.replace(old, new, 1))
PY
library() { # mode, sources folder, output folder
    local flags=(-O -swift-version 6 -parse-as-library -module-name AioRunPluginAPI -emit-library -emit-module)
    [ "$1" = resilient ] && flags+=(-enable-library-evolution)
    mkdir -p "$3"
    swiftc "${flags[@]}" -emit-module-path "$3/AioRunPluginAPI.swiftmodule" -o "$3/libAioRunPluginAPI.so" \
        $(ls "$2"/*.swift | grep -v Package.swift)
}
for mode in fragile resilient; do
    library $mode "$api" "$work/$mode"
    library $mode "$work/next-src" "$work/$mode-next"
    for tool in LayoutProbe CallCost; do
        swiftc -O -swift-version 6 -I "$work/$mode" -L "$work/$mode" -lAioRunPluginAPI \
            -o "$work/$mode-$tool" "$here/$tool.swift"
    done
    echo "== $mode: probe built against this API, on this API"
    LD_LIBRARY_PATH="$work/$mode" "$work/$mode-LayoutProbe" || echo "exit $?"
    echo "== $mode: probe built against this API, on the next minor (stored properties added)"
    LD_LIBRARY_PATH="$work/$mode-next" "$work/$mode-LayoutProbe" 2>&1 | head -3 || true
    echo "== $mode: call costs"
    LD_LIBRARY_PATH="$work/$mode" "$work/$mode-CallCost"
done
