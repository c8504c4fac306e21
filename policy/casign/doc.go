// Package casign signs and verifies requests with HMAC app signatures
// compatible with Alibaba Cloud API Gateway's APP (digest) authentication.
//
// # Protocol
//
// The client sends X-Ca-Key (app key), X-Ca-Timestamp (epoch ms),
// X-Ca-Nonce, X-Ca-Signature-Method (HmacSHA256 by default, HmacSHA1 where
// enabled), X-Ca-Signature-Headers (comma-separated names of the signed
// headers) and X-Ca-Signature = base64(HMAC(secret, StringToSign)), where
//
//	StringToSign = METHOD "\n" Accept "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//	               { lower(name) ":" value "\n" }   signed headers, sorted by name
//	               path [ "?" k["=" v] { "&" k["=" v] } ]   query + form params, sorted by key
//
// An absent Accept/Content-MD5/Content-Type/Date leaves an empty line; no
// signed headers add nothing; no parameters means no "?". A parameter whose
// value is empty is written as its key alone. Values are URL-decoded.
//
// # What Alibaba's material says, and what this package does
//
//   - Excluded headers: the gateway documentation ("Signature mechanism",
//     help.aliyun.com document 143207, and "Use digest authentication to call
//     an API", 29475) lists X-Ca-Signature, X-Ca-Signature-Headers, Accept,
//     Content-MD5, Content-Type and Date as not taking part in the Headers
//     block; the demo SDKs (api-gateway-demo-sign-java/-php SignUtil) remove
//     them from the list. The builder skips them when listed.
//   - Header name case: the first-generation demo SDKs (Java/PHP/Python)
//     write names as the client spelled them ("X-Ca-Key:") and sort them
//     with a Java TreeMap; the current Node.js SDK (aliyun/api-gateway-
//     nodejs-sdk) lower-cases every header name, and Alibaba's backend
//     signature demo (api-gateway-demo-sign-backend-java), which mirrors the
//     gateway's own computation, writes e.getKey().toLowerCase(). So names
//     are lower-cased (sorted case-insensitively) by default; the Verifier
//     can also accept the as-listed form (Config.AcceptListedHeaderCase).
//     The list separator is a comma (the SDK constant SPE1 = ","); one doc
//     page (143207) shows colons, so the Verifier splits at either: no header
//     name can contain a colon.
//   - Parameter order: Java TreeMap / JavaScript sort, i.e. UTF-16 code-unit
//     order; compareJava reproduces it on UTF-8 bytes.
//   - Duplicate parameter keys: Alibaba's SDKs hold parameters in maps, so a
//     client cannot send duplicates through them; the backend demo, reading
//     servlet parameter arrays, signs the first value. The builder signs the
//     first occurrence (query before form). Because later values would then
//     reach the backend unsigned, the Verifier rejects repeated keys
//     (DuplicateParameter) unless Config.AllowDuplicateParams.
//   - Empty keys are skipped, as the SDKs do. A listed header the request
//     lacks is signed as "name:" (empty value), as the doc prescribes for
//     empty values.
//   - Content-MD5 is base64(md5(body)), sent by the SDKs for non-form bodies;
//     when present the Verifier checks it against the body.
//   - Timestamps are valid 15 minutes (doc 143207); the window is symmetric
//     and configurable. Without X-Ca-Timestamp, Date (IMF-fixdate) is used.
//   - On a signature mismatch the gateway answers with X-Ca-Error-Message:
//     "Invalid Signature, Server StringToSign:`...`" with newlines shown as
//     '#'; AppendDebugStringToSign renders that string.
//
// Beyond Alibaba, for safety: a sent X-Ca-Timestamp or X-Ca-Nonce must be
// listed in X-Ca-Signature-Headers (every SDK signs all X-Ca-* headers), else
// an attacker could refresh them and replay; nonces are required unless
// Config.AllowMissingNonce.
//
// # Hot path
//
// A Verifier is built per snapshot from a KeyStore (app key -> Credential
// with one or more Secrets, so secrets rotate without downtime) and a
// nonce.Store that outlives snapshots. Per request: AcquireRequest,
// VerifyFastHTTP, ReleaseRequest; no allocations in steady state.
//
// Client side: Sign (transport-independent), SignRequest (net/http),
// SignFastHTTP, and CurlCommand for a shell-ready command line.
package casign
