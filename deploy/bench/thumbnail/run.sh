#!/usr/bin/env bash
# Thumbnail benchmark (issue 5): Sieve's thumbnailer against vipsthumbnail on
# the same 20 MP JPEG, in the same run.
#
#   ./deploy/bench/thumbnail/run.sh [ROUNDS]     (default 15)
#
# Figures printed (medians; the process timings alternate vips and sieve
# round by round, so that a busy machine slows both alike):
#   vips         `vipsthumbnail IN -s 1280`: ONE size (the detail one), a process.
#   vips start   `vipsthumbnail` on a 100x78 JPEG: its start-up alone, for context.
#   sieve worker `thumbnail worker IN 3`: Thumbnailer.Make making BOTH sizes
#                (320 and 1280 px) and the pHash inside a running process, as
#                `sieve worker` does (median of 3 after a warm-up, per round).
#                The Go benchmark measures the same:
#                SIEVE_BENCH_JPEG=IN go test ./imagery/ -run '^$' -bench Thumbnail20MP
#   sieve process `thumbnail make IN OUTDIR`: one process per image (start-up,
#                metadata, both sizes, files written), for context.
# The target (issue 5) is sieve worker <= 0.6 x vips; the script exits 1 when
# it is missed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
rounds=${1:-15}
out=$root/deploy/bench/out/thumbnail
mkdir -p "$out/sieve"

if ! command -v vipsthumbnail >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y -qq libvips-tools >/dev/null
	else
		echo "run.sh: vipsthumbnail is missing (Debian: apt-get install libvips-tools)" >&2
		exit 2
	fi
fi

go build -o "$out/thumbnail" ./deploy/bench/thumbnail
img=$out/20mp.jpg
[ -s "$img" ] || "$out/thumbnail" gen imagery/testdata/jolla.jpg "$img"

echo "file:   $img ($(stat -c %s "$img") bytes, 5472x3648)"
echo "vips:   $(vipsthumbnail --vips-version 2>/dev/null || vips --version)"
echo "cpus:   $(nproc)   rounds: $rounds (after one warm-up each)"

now() { date +%s%N; }
vips_once() { vipsthumbnail "$img" -s 1280 -o "$out/vips.jpg[Q=82]"; }
vips_tiny() { vipsthumbnail imagery/testdata/Kodak_CX7530.jpg -s 64 -o "$out/vips-tiny.jpg"; }
sieve_once() { "$out/thumbnail" make "$img" "$out/sieve"; }
vips_once
vips_tiny
sieve_once
: >"$out/vips.us"
: >"$out/vips-tiny.us"
: >"$out/sieve.us"
: >"$out/worker.us"
for _ in $(seq "$rounds"); do
	t0=$(now); vips_once; t1=$(now); sieve_once; t2=$(now); vips_tiny; t3=$(now)
	"$out/thumbnail" worker "$img" 3 >>"$out/worker.us"
	echo $(( (t1 - t0) / 1000 )) >>"$out/vips.us"
	echo $(( (t2 - t1) / 1000 )) >>"$out/sieve.us"
	echo $(( (t3 - t2) / 1000 )) >>"$out/vips-tiny.us"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
vips_ms=$(median "$out/vips.us")
tiny_ms=$(median "$out/vips-tiny.us")
proc_ms=$(median "$out/sieve.us")
worker_ms=$(median "$out/worker.us")
ratio_worker=$(ratio "$worker_ms" "$vips_ms")

echo
printf '%-66s %7s ms\n' "vips: vipsthumbnail -s 1280, one size (process)" "$vips_ms"
printf '%-66s %7s ms\n' "vips start: vipsthumbnail of a 100x78 JPEG (process)" "$tiny_ms"
printf '%-66s %7s ms   ratio %s\n' "sieve worker: Thumbnailer.Make, both sizes + pHash (in process)" "$worker_ms" "$ratio_worker"
printf '%-66s %7s ms   ratio %s\n' "sieve process: thumbnail make, metadata + both sizes (process)" "$proc_ms" "$(ratio "$proc_ms" "$vips_ms")"
echo
if awk -v r="$ratio_worker" 'BEGIN {exit !(r <= 0.6)}'; then
	echo "PASS: both sizes in ${ratio_worker}x the time vipsthumbnail takes for one (target <= 0.6)"
else
	echo "FAIL: both sizes take ${ratio_worker}x the time vipsthumbnail takes for one (target <= 0.6)"
	exit 1
fi
