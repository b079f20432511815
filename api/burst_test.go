package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/evidence"
)

// flakyProxy is a loopback TCP proxy that drops a share of its connections: half of the drops
// cut the request mid-way (the server never sees all of it), the other half let the request
// through and cut the answer (the server did the work, the phone never heard).
type flakyProxy struct {
	ln     net.Listener
	target string
	share  float64
	mu     sync.Mutex
	rnd    *rand.Rand
	drops  int
	conns  []net.Conn
}

func newFlakyProxy(t *testing.T, target string, share float64, seed int64) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, share: share, rnd: rand.New(rand.NewSource(seed))}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		drop, inRequest := p.rnd.Float64() < p.share, p.rnd.Intn(2) == 0
		cut := 16 + p.rnd.Intn(128) // inside the request line and headers: always mid-request
		if drop {
			p.drops++
		}
		p.mu.Unlock()
		go p.pipe(c, drop, inRequest, cut)
	}
}

func (p *flakyProxy) pipe(c net.Conn, drop, inRequest bool, cut int) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	// Closing both ends stops both copies: whichever way the exchange ends, nothing lingers.
	defer c.Close()
	defer s.Close()
	if drop && inRequest {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.CopyN(s, c, int64(cut))
		return // the server sees a request cut short, the phone a dropped connection
	}
	go func() {
		_, _ = io.Copy(s, c)
	}()
	if drop {
		_, _ = io.Copy(io.Discard, s) // the whole answer is produced, then lost
		return
	}
	_, _ = io.Copy(c, s)
}

// close drops every connection still open (at the end of the test, before the server closes).
func (p *flakyProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *flakyProxy) url() string { return "http://" + p.ln.Addr().String() }

// burstPhoto is a small distinct JPEG (a pattern drawn from n).
func burstPhoto(t *testing.T, n int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	r := rand.New(rand.NewSource(int64(n)))
	for y := 0; y < 48; y += 8 {
		for x := 0; x < 64; x += 8 {
			c := color.RGBA{uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256)), 255}
			for dy := 0; dy < 8; dy++ {
				for dx := 0; dx < 8; dx++ {
					img.Set(x+dx, y+dy, c)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// burstResult is what one phone's burst left on the server: each inspection's verdict.
type burstResult struct {
	inspections, media int
	verdicts           map[string]evidence.Status
}

// runBurst sends a day of offline work (n visits, two photos each) from the world's grid
// worker through base (the server, or a proxy in front of it), retrying each request until it
// succeeds and sending every tenth again after it did; then runs the evidence checks.
func runBurst(t *testing.T, h *harness, w *world, base string, n int, day time.Time) burstResult {
	t.Helper()
	ctx := context.Background()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	phone := client.New(base, client.WithToken(h.token(w.users["worker"])), client.WithHTTPClient(hc), client.WithLanguage("en"))
	retry := func(what string, f func() error) {
		for attempt := 0; ; attempt++ {
			err := f()
			if err == nil {
				return
			}
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status < 500 {
				t.Fatalf("%s: refused: %v", what, err)
			}
			if attempt > 50 {
				t.Fatalf("%s: still failing after 50 attempts: %v", what, err)
			}
		}
	}
	for i := 0; i < n; i++ {
		var ids []int64
		for k := 0; k < 2; k++ {
			data := burstPhoto(t, 2*i+k)
			key := fmt.Sprintf("burst-photo-%d", 2*i+k)
			var m client.Medium
			retry(key, func() error {
				var err error
				m, _, err = phone.UploadPhoto(ctx, key+".jpg", bytes.NewReader(data), int64(len(data)), key)
				return err
			})
			ids = append(ids, m.ID)
		}
		lon := 113.41 + float64(i%20)*0.0015
		acc := 6.0 + float64(i%5)
		req := client.InspectionRequest{ID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", i), PremiseID: &w.premise1,
			VisitedAt: day.Add(time.Duration(i) * 4 * time.Minute), Position: &client.Position{Lon: lon, Lat: 34.2, AccuracyM: &acc, CRS: "wgs84"},
			Outcome: "clear", MediaIDs: ids}
		sends := 1
		if i%10 == 0 {
			sends = 2 // sent again after it succeeded
		}
		for s := 0; s < sends; s++ {
			retry(req.ID, func() error { _, _, err := phone.RecordInspection(ctx, req); return err })
		}
	}
	// The photos' jobs (metadata, thumbnails, pHash) finish before the checks run.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var left int
		if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM media WHERE status = 'received' AND idempotency_key LIKE 'burst-photo-%'`).Scan(&left)
		}); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d photos still unprocessed", left)
		}
	}
	res := burstResult{verdicts: map[string]evidence.Status{}}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM inspections WHERE id::text LIKE 'b0000000-%'`).Scan(&res.inspections); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM media WHERE idempotency_key LIKE 'burst-photo-%'`).Scan(&res.media)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("b0000000-0000-4000-8000-%012d", i)
		v, err := h.srv.Inspections.Check(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		res.verdicts[id] = v.Status
	}
	return res
}

// TestOfflineBurst: a phone offline for a day sends 200 inspections with 400 photos through a
// proxy that drops 10 % of connections (mid-request or by losing the answer), retrying each
// request until it succeeds and some after they succeeded. The server ends with exactly 200
// inspections, each photo once, and the same verdicts as the same burst without the proxy.
func TestOfflineBurst(t *testing.T) {
	const n = 200
	day := time.Now().Add(-30 * time.Hour).Truncate(time.Minute)

	direct := newHarness(t)
	dw := direct.world()
	direct.mapWorld(dw)
	startWorkers(t, direct.pool, direct.srv.Media)
	want := runBurst(t, direct, dw, direct.url, n, day)

	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	startWorkers(t, h.pool, h.srv.Media)
	proxy := newFlakyProxy(t, h.url[len("http://"):], 0.10, 10)
	got := runBurst(t, h, w, proxy.url(), n, day)

	if got.inspections != n || got.media != 2*n {
		t.Errorf("through the proxy: %d inspections and %d photos, want %d and %d", got.inspections, got.media, n, 2*n)
	}
	if want.inspections != n || want.media != 2*n {
		t.Errorf("direct: %d inspections and %d photos, want %d and %d", want.inspections, want.media, n, 2*n)
	}
	if proxy.drops < n/10 {
		t.Errorf("the proxy dropped %d connections, want at least %d (10 %%)", proxy.drops, n/10)
	}
	for id, v := range want.verdicts {
		if got.verdicts[id] != v {
			t.Errorf("%s: verdict %s through the proxy, %s without", id, got.verdicts[id], v)
		}
	}
	t.Logf("proxy dropped %d connections", proxy.drops)
}
