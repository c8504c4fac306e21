package bench

// FeatureAccessLogSinkDown is an access log whose only sink is HTTP to a
// loopback port that refuses connections (GatewayParams.RefusedAddr): the
// gateway must keep serving while every batch fails.
const FeatureAccessLogSinkDown Feature = "access-log-sink-down"

// The access-log issue's scenarios. anon-1k-log uses FeatureAccessLog (a
// file sink, in features.go); the dead sink is configured here. Its retry
// settings are the gateway's defaults, as an operator would leave them.
func init() {
	GatewayFeatures[FeatureAccessLogSinkDown] = FeatureConfig{
		Global: `
[access_log]
[[access_log.sinks]]
type = "http"
url = "http://{{.RefusedAddr}}/bench-log"`,
	}
}
