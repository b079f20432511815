package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sieve-city/sieve/client"
)

const uploadUsage = `usage: sieve upload [flags] DIR

Uploads the images under DIR (an SD card or a folder) to a drone survey, in parallel, straight to
the object store. Run it again after a Ctrl-C or a dropped connection: it continues the same
survey, skips files already on the server and resumes large files from the last part sent.

  --server URL        Sieve API (default $SIEVE_SERVER or http://127.0.0.1:8080)
  --token TOKEN       bearer token (default $SIEVE_TOKEN; get one with POST /api/v1/auth/login)
  --survey ID         upload into this survey (default: the one DIR was last uploaded to)
  --region ID         create a new survey over this region (needed the first time)
  --flight-date DATE  of the new survey, YYYY-MM-DD (default: today)
  --name, --drone, --camera   of the new survey
  --parallel N        files at once (default 4)
  --wait DURATION     wait this long for the server to check the images, then list the
                      flagged ones (default 2m; 0: do not wait)
  --lang zh|en        language of the summary (default $SIEVE_LANG or $LANG, else zh)

The summary counts every file once: stored now, duplicate (the same bytes as another file of
the survey: stored once, both names listed), already there, linked (stored by another survey
and now listed in this one too), rejected, failed; then the images the server flagged (no GPS,
outside the survey's region, blurred ...), which are kept: check them and re-fly if needed.`

// imageExts are the files sieve upload takes; anything else on the card is ignored.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".heic": true, ".heif": true,
	".tif": true, ".tiff": true, ".webp": true, ".dng": true}

// uploadState is remembered between runs for one directory: the survey and the hashes already
// computed (by path, size and modification time), so that a re-run starts at once.
type uploadState struct {
	Server   string               `json:"server"`
	SurveyID int64                `json:"surveyId"`
	Hashes   map[string]hashEntry `json:"hashes"`
}

type hashEntry struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"modTime"`
	SHA256  string `json:"sha256"`
}

type localFile struct {
	path, rel string
	size      int64
	sha256    string
}

// uploader talks to the API and to the presigned URLs through client.
type uploader struct {
	api *client.Client
	out io.Writer

	totalFiles, totalBytes int64
	doneFiles, doneBytes   atomic.Int64
	skipped                atomic.Int64 // not sent: already there, duplicates, linked
	start                  time.Time

	mu         sync.Mutex
	rejected   []string
	failed     []string
	duplicates []string // "name = stored name"
	linked     []string // "name (survey N)"
}

func cmdUpload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sieve upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, uploadUsage) }
	server := fs.String("server", getenv("SIEVE_SERVER"), "")
	token := fs.String("token", getenv("SIEVE_TOKEN"), "")
	surveyID := fs.Int64("survey", 0, "")
	regionID := fs.Int64("region", 0, "")
	flightDate := fs.String("flight-date", time.Now().Format(time.DateOnly), "")
	name := fs.String("name", "", "")
	drone := fs.String("drone", "", "")
	camera := fs.String("camera", "", "")
	parallel := fs.Int("parallel", 4, "")
	wait := fs.Duration("wait", 2*time.Minute, "")
	lang := fs.String("lang", firstNonEmpty(getenv("SIEVE_LANG"), getenv("LC_ALL"), getenv("LANG")), "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *parallel < 1 {
		return usageError(uploadUsage)
	}
	if *server == "" {
		*server = "http://127.0.0.1:8080"
	}
	if *token == "" {
		return usageError("sieve upload: no token: set SIEVE_TOKEN or pass --token")
	}
	dir, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	base := strings.TrimRight(*server, "/")
	u := &uploader{api: client.New(base, client.WithToken(*token)), out: stderr, start: time.Now()}
	statePath := uploadStatePath(dir)
	st := loadUploadState(statePath)
	if st.Server != base {
		st.SurveyID = 0
	}
	st.Server = base
	defer saveUploadState(statePath, st)

	// The survey: as asked, as last time, or a new one.
	switch {
	case *surveyID > 0:
		st.SurveyID = *surveyID
	case *regionID > 0:
		st.SurveyID = 0
	}
	if st.SurveyID == 0 {
		if *regionID <= 0 {
			return usageError("sieve upload: first upload of this folder: pass --region ID (or --survey ID)")
		}
		sv, err := u.api.CreateSurvey(ctx, client.NewSurvey{RegionID: *regionID, FlightDate: *flightDate, Name: *name,
			Drone: *drone, Camera: *camera})
		if err != nil {
			return fmt.Errorf("create survey: %w", err)
		}
		st.SurveyID = sv.ID
		fmt.Fprintf(stdout, "created survey %d\n", sv.ID)
	} else if _, err := u.api.GetSurvey(ctx, st.SurveyID); err != nil {
		return fmt.Errorf("survey %d: %w", st.SurveyID, err)
	} else {
		fmt.Fprintf(stdout, "continuing survey %d\n", st.SurveyID)
	}
	saveUploadState(statePath, st)

	files, err := findImages(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no images under %s", dir)
	}
	if err := hashFiles(ctx, files, st, *parallel, stderr); err != nil {
		return err
	}
	saveUploadState(statePath, st)
	for _, f := range files {
		u.totalFiles++
		u.totalBytes += f.size
	}

	done := make(chan struct{})
	go u.progress(done)
	err = u.run(ctx, st.SurveyID, files, *parallel)
	close(done)
	u.line(true)
	u.summary(stdout)
	if err == nil {
		u.checked(ctx, stdout, st.SurveyID, *wait, english(*lang))
	}
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted: run the same command again to continue")
		}
		return err
	}
	if len(u.failed) > 0 {
		return fmt.Errorf("%d files not uploaded: run the same command again to retry them", len(u.failed))
	}
	return nil
}

// run declares the files in batches and uploads each batch with parallel workers.
func (u *uploader) run(ctx context.Context, surveyID int64, files []localFile, parallel int) error {
	const batch = 200
	for i := 0; i < len(files); i += batch {
		part := files[i:min(i+batch, len(files))]
		decl := make([]client.FileDecl, len(part))
		for j, f := range part {
			decl[j] = client.FileDecl{Name: f.rel, Size: f.size, SHA256: f.sha256}
		}
		var slots []client.Slot
		if err := u.retry(ctx, func() (err error) { slots, err = u.api.SurveyUploadSlots(ctx, surveyID, decl); return err }); err != nil {
			return fmt.Errorf("upload slots: %w", err)
		}
		if len(slots) != len(part) {
			return fmt.Errorf("upload slots: %d answers for %d files", len(slots), len(part))
		}
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < parallel; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					u.one(ctx, surveyID, part[j], slots[j])
				}
			}()
		}
	feed:
		for j := range part {
			select {
			case work <- j:
			case <-ctx.Done():
				break feed
			}
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// one uploads one file to its slot and completes it.
func (u *uploader) one(ctx context.Context, surveyID int64, f localFile, s client.Slot) {
	switch s.Status {
	case "exists", "duplicate":
		u.mu.Lock()
		switch {
		case s.DuplicateOf != "":
			u.duplicates = append(u.duplicates, f.rel+" = "+s.DuplicateOf)
		case s.LinkedFrom != nil:
			u.linked = append(u.linked, fmt.Sprintf("%s (%d)", f.rel, *s.LinkedFrom))
		}
		u.mu.Unlock()
		u.skipped.Add(1)
		u.doneFiles.Add(1)
		u.doneBytes.Add(f.size)
		return
	case "rejected":
		u.reject(f.rel, s.Code, s.Reason)
		u.doneFiles.Add(1)
		u.doneBytes.Add(f.size)
		return
	}
	var err error
	complete := false
	if s.URL != "" {
		err = u.retry(ctx, func() error { return u.put(ctx, s.URL, f.path, 0, f.size) })
	} else {
		for _, d := range s.PartsDone {
			u.doneBytes.Add(min(s.PartSize, f.size-int64(d-1)*s.PartSize))
		}
		for _, p := range s.Parts {
			off := int64(p.Number-1) * s.PartSize
			n := min(s.PartSize, f.size-off)
			if err = u.retry(ctx, func() error { return u.put(ctx, p.URL, f.path, off, n) }); err != nil {
				break
			}
		}
	}
	if err == nil {
		complete = true
		err = u.retry(ctx, func() error { _, err := u.api.CompleteSurveyUpload(ctx, surveyID, s.UploadID); return err })
	}
	var ae *client.Error
	if ctx.Err() == nil {
		u.doneFiles.Add(1)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil: // interrupted: the next run continues it
	case complete && errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 &&
		ae.Status != http.StatusConflict && ae.Status != http.StatusGone:
		// The server refused the file itself (format, damage, size): running again will not help.
		u.reject(f.rel, ae.Code, ae.Message)
	default:
		u.mu.Lock()
		u.failed = append(u.failed, fmt.Sprintf("%s: %v", f.rel, err))
		u.mu.Unlock()
	}
}

func (u *uploader) reject(name, code, reason string) {
	u.mu.Lock()
	u.rejected = append(u.rejected, fmt.Sprintf("%s: %s (%s)", name, reason, code))
	u.mu.Unlock()
}

// countingReader adds what it reads to the uploaded bytes.
type countingReader struct {
	r io.Reader
	u *uploader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.u.doneBytes.Add(int64(n))
	return n, err
}

// put sends n bytes of the file at off to a presigned URL.
func (u *uploader) put(ctx context.Context, url, path string, off, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := &countingReader{r: io.NewSectionReader(f, off, n), u: u}
	defer func() { u.doneBytes.Add(-cr.n) }() // counted again below once it arrived
	if err := u.api.PutSlot(ctx, url, cr, n); err != nil {
		return err
	}
	u.doneBytes.Add(n)
	return nil
}

// retry runs fn up to 5 times while it fails with a network error or a 5xx (the connection
// dropped, the server restarts), waiting longer each time.
func (u *uploader) retry(ctx context.Context, fn func() error) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := fn()
		var ae *client.Error
		if err == nil || ctx.Err() != nil || attempt == 5 || (errors.As(err, &ae) && ae.Status < 500) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait *= 2
	}
}

// progress redraws the progress line twice a second until done is closed.
func (u *uploader) progress(done chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			u.line(false)
		}
	}
}

// line prints files, bytes, rate and ETA on one line (\r-redrawn; a newline at the end).
func (u *uploader) line(final bool) {
	files, done := u.doneFiles.Load(), u.doneBytes.Load()
	el := time.Since(u.start).Seconds()
	rate := float64(done) / max(el, 0.001)
	eta := "-"
	if rate > 0 && done < u.totalBytes {
		eta = (time.Duration(float64(u.totalBytes-done)/rate) * time.Second).Round(time.Second).String()
		if strings.ContainsAny(eta, "hm") {
			eta = strings.TrimSuffix(eta, "0s") // 2m0s -> 2m
		}
	}
	end := "\r"
	if final {
		end = "\n"
	}
	fmt.Fprintf(u.out, "\rfiles %d/%d  %s/%s  %s/s  ETA %s  skipped %d   %s", files, u.totalFiles,
		human(done), human(u.totalBytes), human(int64(rate)), eta, u.skipped.Load(), end)
}

func (u *uploader) summary(w io.Writer) {
	uploaded := u.doneFiles.Load() - u.skipped.Load() - int64(len(u.rejected)) - int64(len(u.failed))
	fmt.Fprintf(w, "uploaded %d, already there %d, rejected %d, failed %d, in %s\n", max(uploaded, 0), u.skipped.Load(),
		len(u.rejected), len(u.failed), time.Since(u.start).Round(time.Second))
	sort.Strings(u.rejected)
	if len(u.rejected) > 0 {
		fmt.Fprintln(w, "rejected:")
		for _, r := range u.rejected {
			fmt.Fprintln(w, "  "+r)
		}
	}
	if len(u.failed) > 0 {
		fmt.Fprintln(w, "failed (run again to retry):")
		for _, r := range u.failed {
			fmt.Fprintln(w, "  "+r)
		}
	}
}

// firstNonEmpty returns the first of vs that is not "".
func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// english reports whether a language setting (--lang, $LANG: "en", "en_US.UTF-8") asks for
// English; anything else, or nothing, is Chinese (zh-CN), the campaign's language.
func english(lang string) bool { return strings.HasPrefix(strings.ToLower(lang), "en") }

// checked prints what every file of this run became, adding up to the files found, then waits
// up to wait for the server's checks and lists the flagged images with their reasons.
func (u *uploader) checked(ctx context.Context, w io.Writer, surveyID int64, wait time.Duration, en bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	dup, linked := int64(len(u.duplicates)), int64(len(u.linked))
	there := u.skipped.Load() - dup - linked
	stored := u.doneFiles.Load() - u.skipped.Load() - int64(len(u.rejected)) - int64(len(u.failed))
	if en {
		fmt.Fprintf(w, "%d files: stored %d, duplicate %d, already there %d, linked %d, rejected %d, failed %d\n",
			u.totalFiles, stored, dup, there, linked, len(u.rejected), len(u.failed))
	} else {
		fmt.Fprintf(w, "共 %d 个文件：新存储 %d，重复 %d，已在服务器 %d，关联到本航测 %d，拒收 %d，失败 %d\n",
			u.totalFiles, stored, dup, there, linked, len(u.rejected), len(u.failed))
	}
	sort.Strings(u.duplicates)
	sort.Strings(u.linked)
	if len(u.duplicates) > 0 {
		fmt.Fprintln(w, inLang(en, "duplicates (same bytes, stored once):", "重复（内容相同，只存一份）："))
		for _, d := range u.duplicates {
			fmt.Fprintln(w, "  "+d)
		}
	}
	if len(u.linked) > 0 {
		fmt.Fprintln(w, inLang(en, "linked into this survey (stored by the survey in brackets):", "已关联到本航测（由括号内的航测存储）："))
		for _, l := range u.linked {
			fmt.Fprintln(w, "  "+l)
		}
	}
	// Wait for the server's checks while they move on: until no image is left unchecked, the
	// wait is over, or nothing moved for stallAfter (no worker running, or a long queue).
	const stallAfter = 10 * time.Second
	deadline, lastMove, lastDone := time.Now().Add(wait), time.Now(), -1
	var p *client.Progress
	pendingImages := 0
	for {
		sv, err := u.api.GetSurvey(ctx, surveyID)
		if err != nil || sv.Progress == nil {
			return
		}
		p = sv.Progress
		open, err := u.api.SurveyImages(ctx, surveyID, client.PageRequest{Limit: 500}, "received")
		if err != nil {
			return
		}
		pendingImages = len(open.Items)
		if done := p.Processed + p.Failed; done != lastDone {
			lastDone, lastMove = done, time.Now()
		}
		if pendingImages == 0 || !time.Now().Before(deadline) || time.Since(lastMove) > stallAfter {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	if pendingImages > 0 {
		fmt.Fprintf(w, inLang(en, "%d images still being checked: see GET /api/v1/surveys/%d later\n",
			"仍有 %d 张影像在检查中：稍后查看 GET /api/v1/surveys/%d\n"), pendingImages, surveyID)
	}
	if p.Flagged == 0 {
		if p.Received > 0 && pendingImages == 0 {
			fmt.Fprintln(w, inLang(en, "no image flagged", "没有发现问题影像"))
		}
		return
	}
	fmt.Fprintf(w, inLang(en, "flagged %d images of the survey (kept; check them, re-fly if needed):\n",
		"本航测有问题的影像 %d 张（已保存，请检查，必要时重飞）：\n"), p.Flagged)
	for _, f := range p.Flags {
		reason := f.Reason
		if en {
			reason = f.ReasonEn
		}
		fmt.Fprintf(w, inLang(en, "  %s (%d): %s\n", "  %s（%d 张）：%s\n"), reason, f.Count, strings.Join(f.Names, inLang(en, ", ", "，")))
	}
}

// inLang returns enText or zh.
func inLang(en bool, enText, zh string) string {
	if en {
		return enText
	}
	return zh
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// findImages lists the image files under dir (hidden files and folders skipped), in path order.
func findImages(dir string) ([]localFile, error) {
	var out []localFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(p))] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, localFile{path: p, rel: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	return out, err
}

// hashFiles computes the SHA-256 of every file not hashed before (same size and time).
func hashFiles(ctx context.Context, files []localFile, st *uploadState, parallel int, stderr io.Writer) error {
	var mu sync.Mutex
	var firstErr error
	var hashed atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f := &files[i]
				info, err := os.Stat(f.path)
				if err == nil {
					mu.Lock()
					h, ok := st.Hashes[f.path]
					mu.Unlock()
					if ok && h.Size == info.Size() && h.ModTime == info.ModTime().UnixNano() {
						f.sha256 = h.SHA256
					} else if f.sha256, err = hashFile(f.path); err == nil {
						mu.Lock()
						st.Hashes[f.path] = hashEntry{Size: info.Size(), ModTime: info.ModTime().UnixNano(), SHA256: f.sha256}
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
				}
				if n := hashed.Add(1); n%50 == 0 || int(n) == len(files) {
					fmt.Fprintf(stderr, "\rchecking files %d/%d", n, len(files))
				}
			}
		}()
	}
	for i := range files {
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	fmt.Fprintln(stderr)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// uploadStatePath is where the state of a directory's uploads is kept: in the user's cache
// (an SD card may be read-only), named after the directory's path.
func uploadStatePath(dir string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(base, "sieve", "upload-"+hex.EncodeToString(sum[:8])+".json")
}

func loadUploadState(path string) *uploadState {
	st := &uploadState{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, st)
	}
	if st.Hashes == nil {
		st.Hashes = map[string]hashEntry{}
	}
	return st
}

func saveUploadState(path string, st *uploadState) {
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(path), 0o700)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, path)
	}
}
