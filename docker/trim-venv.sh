#!/bin/sh
# Remove from the serving environment what the service never loads: onnxruntime's C-API library (its Python
# binding is self-contained), its quantization/transformers/tools packages, numpy's tests and SIMD test
# module, and the debug symbols of native modules (uvloop ships 12 MB of them).
set -eu
site="$(echo "$1"/lib/python3*/site-packages)"
rm -rf "$site"/onnxruntime/capi/libonnxruntime.so.* "$site"/onnxruntime/quantization \
       "$site"/onnxruntime/transformers "$site"/onnxruntime/tools "$site"/onnxruntime/datasets \
       "$site"/numpy/_core/_simd.*.so "$site"/numpy/_core/_multiarray_tests.*.so
find "$site" -depth -type d -name tests -path "*/numpy/*" -exec rm -rf {} +
# Only modules that link no bundled library: auditwheel-patched ones (numpy's, psycopg's) break when stripped.
if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded "$site"/uvloop/*.so "$site"/httptools/parser/*.so
fi
