#!/usr/bin/env bash
# Regenerates cmd/sluice/default.pgo, the profile `go build` applies to the
# sluice binary by itself (profile-guided optimisation; `make test` builds
# the tests with it too).
#
# What it is for: Go's crypto/tls allocates a small object for every TLS
# record read that needs bytes from the socket (Conn.readFromUntil passes
# &atLeastReader{} to bytes.Buffer.ReadFrom, and the interface call there
# makes it escape). With readFromUntil's call to ReadFrom marked hot, the
# compiler inlines ReadFrom into it, calls atLeastReader.Read directly and
# keeps the reader on the stack: a TLS request then allocates nothing.
#
# How: profile BenchmarkTLSRequest (TLS keep-alive requests through the
# gateway), keep the samples through readFromUntil (-focus) and, in them,
# only the frames readFromUntil and ReadFrom (-show): every sample becomes
# [ReadFrom <- readFromUntil], the time spent reading TLS records. Both
# cuts matter. The compiler weighs a call edge by the samples whose leaf is
# the callee, and ReadFrom's own code is almost never the leaf (the time is
# in read(2) below it), so uncut the edge weighs nothing. And with the edge
# readRecordOrCCS -> readFromUntil hot, the compiler would inline
# readFromUntil into readRecordOrCCS, and the copy it inlines still boxes
# the reader (go build -gcflags=crypto/tls=-m shows it). The profile says
# nothing about any other code, so nothing else changes.
#
# TestTLSRequestZeroAllocs (proxy, with SLUICE_PGO=1) and
# TestTLSBinaryZeroAllocs (cmd/sluice, the built binary) fail when a Go
# upgrade makes this profile stop working: run this script again then.
#
# Usage: bash scripts/pgo-profile.sh   (about 10 s; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -pgo=off -run '^$' -bench '^BenchmarkTLSRequest$' -benchtime 40000x -count 1 \
	-cpuprofile "$tmp/cpu.pprof" -o "$tmp/proxy.test" ./proxy/ >/dev/null
keep='^crypto/tls\.\(\*Conn\)\.readFromUntil$|^bytes\.\(\*Buffer\)\.ReadFrom$'
go tool pprof -proto -focus='^crypto/tls\.\(\*Conn\)\.readFromUntil$' -show="$keep" \
	"$tmp/cpu.pprof" >"$tmp/default.pgo" 2>/dev/null
# The profile must hold the edge the whole file is for (preprofile lists
# the edges the compiler will read).
go tool preprofile -i "$tmp/default.pgo" -o "$tmp/edges" &&
	grep -qx 'bytes.(\*Buffer).ReadFrom' "$tmp/edges" || {
	echo "pgo-profile: no sample of readFromUntil -> bytes.Buffer.ReadFrom; run it again" >&2
	exit 1
}
mv "$tmp/default.pgo" cmd/sluice/default.pgo
echo "wrote cmd/sluice/default.pgo ($(wc -c <cmd/sluice/default.pgo) bytes)"
