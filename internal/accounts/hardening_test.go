package accounts

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCacheGenerations: a principal read before a flush (a change committed meanwhile) is not
// cached after it.
func TestCacheGenerations(t *testing.T) {
	now := time.Now()
	c := newPrincipalCache(time.Hour, func() time.Time { return now })
	h := []byte("hash")
	gen := c.generation() // a request starts reading the principal
	c.flush()             // a change commits and is forgotten
	c.put(h, Principal{UserID: 7}, now.Add(time.Hour), gen)
	if _, ok := c.get(h); ok {
		t.Fatal("a principal read before the flush was cached after it")
	}
	gen = c.generation()
	c.drop([]byte("other"))
	c.put(h, Principal{UserID: 7}, now.Add(time.Hour), gen)
	if _, ok := c.get(h); ok {
		t.Fatal("a principal read before a drop was cached after it")
	}
	c.put(h, Principal{UserID: 7}, now.Add(time.Hour), c.generation())
	if _, ok := c.get(h); !ok {
		t.Fatal("a fresh principal was not cached")
	}
}

// TestHasherSheds: past its running slots and queue the hasher refuses at once with ErrBusy
// instead of queueing; a queued hash that waits past the queue's wait is refused too.
func TestHasherSheds(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(HashParams{MemoryKiB: 8 * 1024, Time: 3, Threads: 1}, 1).WithQueue(1, 50*time.Millisecond)
	hash, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var busy, done int
	var slowest time.Duration
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := h.Verify(ctx, hash, "correct horse battery")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrBusy):
				busy++
				slowest = max(slowest, time.Since(start))
			case err == nil:
				done++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if busy == 0 || done == 0 || busy+done != n {
		t.Fatalf("%d busy, %d done of %d", busy, done, n)
	}
	if slowest > time.Second {
		t.Fatalf("a refusal took %s; refusals must be at once or after the queue's wait", slowest)
	}
}

// TestHasherRefusesWhatItCannotServe: when the hashes ahead would outlast the wait, a place
// in the queue is refused at once, though the queue has room.
func TestHasherRefusesWhatItCannotServe(t *testing.T) {
	h := NewHasher(HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1).WithQueue(100, 100*time.Millisecond)
	h.took.Store(int64(time.Second)) // a hash here takes a second
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		done, err := h.reserve()
		if err != nil {
			t.Error(err)
			return
		}
		defer done()
		close(started)
		<-release
	}()
	<-started
	t0 := time.Now()
	if _, err := h.reserve(); !errors.Is(err, ErrBusy) {
		t.Fatalf("a place behind a one-second hash with a 100 ms wait: %v, want ErrBusy", err)
	}
	if el := time.Since(t0); el > 50*time.Millisecond {
		t.Fatalf("refused after %s, want at once", el)
	}
	close(release)
}
