/**
 * Loading cbor-x's root entry installs its native string extractor (cbor-extract) for every
 * Decoder in the process: text-heavy payloads decode ~2.5× faster, at ~5 MB of RSS. The codec
 * imports cbor-x without it, so the broker, which decodes only its own small control frames,
 * stays lean; the client, which decodes application payloads, and a strict-mode broker import
 * this module. Without the addon (no prebuilt binary, no compiler) cbor-x falls back to JS.
 */
import 'cbor-x';
