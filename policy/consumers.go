package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/sluicegw/sluice/policy/ipacl"
)

// Consumer is a compiled consumer. Immutable; safe for concurrent use.
type Consumer struct {
	Name string
	// Key is xxhash of the name: the consumer's rate-limit identity.
	Key uint64
	// CIDRs restrict where the consumer may call from; nil means anywhere.
	CIDRs *ipacl.Set
	// Headers are sent upstream with its requests, X-Consumer-Name first.
	Headers [][2][]byte
}

// apiKey is one API key; the map holding it is keyed by the key's SHA-256,
// so finding it reveals nothing through timing, and the final comparison is
// constant-time.
type apiKey struct {
	consumer *Consumer
	key      []byte
}

// LookupAPIKey returns the consumer owning key, or nil. It does not allocate.
func (s *Snapshot) LookupAPIKey(key []byte) *Consumer {
	if len(key) == 0 || len(s.apiKeys) == 0 {
		return nil
	}
	sum := sha256.Sum256(key)
	k, ok := s.apiKeys[sum]
	if !ok || subtle.ConstantTimeCompare(k.key, key) != 1 {
		return nil
	}
	return k.consumer
}

func (c *compiler) consumers() {
	c.snap.consumers = map[string]*Consumer{}
	c.snap.apiKeys = map[[32]byte]apiKey{}
	c.snap.appKeys = casign.StaticKeys{}
	for i := range c.p.Config.Consumers {
		cc := &c.p.Config.Consumers[i]
		key := "consumers[" + strconv.Itoa(i) + "]"
		if !nameRE.MatchString(cc.Name) {
			c.add(key+".name", "name "+quote(cc.Name)+" must be 1-64 characters of letters, digits, '.', '_' or '-'")
			continue
		}
		if _, dup := c.snap.consumers[cc.Name]; dup {
			c.add(key+".name", "duplicate consumer name "+quote(cc.Name))
			continue
		}
		cons := &Consumer{Name: cc.Name, Key: xxhash.Sum64String(cc.Name)}
		cons.Headers = append(cons.Headers, [2][]byte{[]byte("X-Consumer-Name"), []byte(cc.Name)})
		for h, v := range cc.Headers {
			if !headerNameRE.MatchString(h) || strings.ContainsAny(v, "\r\n\x00") {
				c.add(key+".headers."+h, "invalid header name or value")
				continue
			}
			cons.Headers = append(cons.Headers, [2][]byte{[]byte(h), []byte(v)})
		}
		if len(cc.AllowedCIDRs) > 0 {
			set, err := ipacl.NewSet(key+".allowed_cidrs", cc.AllowedCIDRs)
			if err != nil {
				c.add(key+".allowed_cidrs", err.Error())
			}
			cons.CIDRs = set
		}
		for ki, ref := range cc.APIKeys {
			kk := key + ".api_keys[" + strconv.Itoa(ki) + "]"
			secret, err := ResolveSecret(ref)
			if err != nil {
				c.add(kk, err.Error())
				continue
			}
			if len(secret) < 16 {
				c.add(kk, "API key is shorter than 16 bytes; use a long random key")
				continue
			}
			sum := sha256.Sum256(secret)
			if _, dup := c.snap.apiKeys[sum]; dup {
				c.add(kk, "API key is used twice")
				continue
			}
			c.snap.apiKeys[sum] = apiKey{consumer: cons, key: secret}
		}
		for ai, app := range cc.Apps {
			ak := key + ".apps[" + strconv.Itoa(ai) + "]"
			if app.AppKey == "" || strings.ContainsAny(app.AppKey, " \r\n\t") {
				c.add(ak+".app_key", "app_key is required and must not contain spaces")
				continue
			}
			if _, dup := c.snap.appKeys[app.AppKey]; dup {
				c.add(ak+".app_key", "app_key "+quote(app.AppKey)+" is used twice")
				continue
			}
			cred := &casign.Credential{Consumer: cc.Name, Owner: cons}
			for si, ref := range app.AppSecrets {
				secret, err := ResolveSecret(ref)
				if err != nil {
					c.add(ak+".app_secrets["+strconv.Itoa(si)+"]", err.Error())
					continue
				}
				cred.Secrets = append(cred.Secrets, casign.NewSecret(secret))
			}
			if len(app.AppSecrets) == 0 {
				c.add(ak+".app_secrets", "at least one app secret is required")
				continue
			}
			c.snap.appKeys[app.AppKey] = cred
		}
		for _, kv := range cons.Headers[1:] {
			if !containsFold(c.snap.ConsumerHeaderNames, kv[0]) {
				c.snap.ConsumerHeaderNames = append(c.snap.ConsumerHeaderNames, kv[0])
			}
		}
		c.snap.consumers[cc.Name] = cons
		c.snap.Consumers = append(c.snap.Consumers, cons)
	}
}

func containsFold(list [][]byte, name []byte) bool {
	for _, x := range list {
		if strings.EqualFold(string(x), string(name)) {
			return true
		}
	}
	return false
}
