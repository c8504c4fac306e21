package bench

import (
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/valyala/fasthttp"
)

// The credentials of the bench consumer. They exist only in generated
// configs on loopback.
const (
	benchAPIKey    = "bench-api-key-0123456789abcdef"
	benchAppKey    = "bench-app"
	benchAppSecret = "bench-app-secret-0123456789abcdef"
	benchJWTSecret = "bench-jwt-secret-0123456789abcdef0123456789"
)

// The gateway's features as the scenarios use them. Blocks are concatenated
// in feature-name order after the bench API's keys.
func init() {
	GatewayFeatures[FeatureKeyAuth] = FeatureConfig{
		API: `
[groups.apis.auth]
modes = ["key"]`,
		Global: `
[[consumers]]
name = "bench"
api_keys = ["` + benchAPIKey + `"]`,
		Headers: func(GatewayParams) []Header { return []Header{{Name: "X-Api-Key", Value: benchAPIKey}} },
	}
	// Three limits generous enough never to deny: the cost measured is the
	// check itself.
	GatewayFeatures[FeatureThrottle] = FeatureConfig{
		API: `
[groups.apis.rate_limit]
api = { rate = 10000000, burst = 10000000 }
consumer = { rate = 10000000, burst = 10000000 }
client_ip = { rate = 10000000, burst = 10000000 }`,
	}
	GatewayFeatures[FeatureAccessLog] = FeatureConfig{
		Global: `
[access_log]
[[access_log.sinks]]
type = "file"
path = "{{.Dir}}/access.log"`,
	}
	// The response cache with a ttl: the origin stub sends no freshness, and
	// nginx's proxy_cache_valid gives its peer the same minute (cache-hit).
	GatewayFeatures[FeatureCache] = FeatureConfig{
		API: `
[groups.apis.cache]
ttl = "60s"`,
	}
	GatewayFeatures[FeatureHMAC] = FeatureConfig{
		API: `
[groups.apis.auth]
modes = ["hmac"]`,
		Global: `
[[consumers]]
name = "bench-app"
[[consumers.apps]]
app_key = "` + benchAppKey + `"
app_secrets = ["` + benchAppSecret + `"]`,
		NewSigner: func(GatewayParams) (Signer, error) {
			return func(req *fasthttp.Request, seq uint64) error {
				return casign.SignFastHTTP(req, benchAppKey, benchAppSecret,
					casign.SignOptions{Nonce: "n-" + strconv.FormatUint(seq, 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
			}, nil
		},
	}
	GatewayFeatures[FeatureJWT] = FeatureConfig{
		API: `
[groups.apis.auth]
modes = ["jwt"]
[groups.apis.auth.jwt]
[[groups.apis.auth.jwt.keys]]
kid = "bench"
alg = "HS256"
secret = "` + benchJWTSecret + `"`,
		// One token for the whole run: the scenario measures the cached path.
		Headers: func(GatewayParams) []Header {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": "bench", "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Hour).Unix(),
			})
			tok.Header["kid"] = "bench"
			s, err := tok.SignedString([]byte(benchJWTSecret))
			if err != nil {
				panic("BUG: signing the bench token: " + err.Error())
			}
			return []Header{{Name: "Authorization", Value: "Bearer " + s}}
		},
	}
}
