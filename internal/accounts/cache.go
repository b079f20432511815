package accounts

import (
	"sync"
	"time"
)

// principalCache remembers authenticated tokens for a short time so that a request does not
// pay a database round trip for its token. A nil cache caches nothing.
//
// A principal read from the database before a change committed must not be cached after the
// change's flush: each flush starts a new generation, and put stores only what was read in
// the generation it is put in.
type principalCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedPrincipal
	gen uint64
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

// maxCached bounds the cache; past it the cache is emptied (cheap, and rare: a city has a few
// thousand users).
const maxCached = 50000

func newPrincipalCache(ttl time.Duration, now func() time.Time) *principalCache {
	return &principalCache{ttl: ttl, now: now, m: map[string]cachedPrincipal{}}
}

func (c *principalCache) get(h []byte) (Principal, bool) {
	if c == nil {
		return Principal{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(h)]
	if !ok || !c.now().Before(e.until) {
		delete(c.m, string(h))
		return Principal{}, false
	}
	return e.p, true
}

// generation returns the current generation, to give to put.
func (c *principalCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches p, read in generation gen, until the cache TTL passes or the token expires,
// whichever is first; nothing when the cache was flushed since gen began.
func (c *principalCache) put(h []byte, p Principal, expires time.Time, gen uint64) {
	if c == nil {
		return
	}
	until := c.now().Add(c.ttl)
	if expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCached {
		c.m = map[string]cachedPrincipal{}
	}
	c.m[string(h)] = cachedPrincipal{p: p, until: until}
}

func (c *principalCache) drop(h []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, string(h))
	c.gen++
	c.mu.Unlock()
}

func (c *principalCache) flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.m = map[string]cachedPrincipal{}
	c.gen++
	c.mu.Unlock()
}
