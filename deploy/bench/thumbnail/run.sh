#!/usr/bin/env bash
# Thumbnail benchmark, the fair run (issue 15): Sieve's thumbnailer against
# vipsthumbnail, both over many 20 MP JPEGs in ONE process, CPU time per image.
#
#   ./deploy/bench/thumbnail/run.sh [FILES] [ROUNDS]     (default 12 files, 5 rounds)
#
# Needs Go, gcc, libjpeg62-turbo-dev and libvips-tools (installed when missing and root).
# Each round, alternating so that a busy machine slows both alike:
#   sieve   `thumbnail batch F1..FN`: Thumbnailer.Make on every file, streamed from disk, as
#           `sieve worker` does over a survey: the list (320 px) AND detail (1280 px) sizes and
#           the pHash (and the pixel measures of the quality flags). One warm-up file first,
#           not counted. Figure: user + system CPU time of the process / N.
#   vips    `vipsthumbnail F1..FN -s 1280`: ONE size, all files in one process; its start-up
#           is taken out by also timing it on one file: (cpu(N) - cpu(1)) / (N - 1).
#   floor   `thumbnail decode F1..FN`: the 1/4-scale decode alone (entropy decoding of the whole
#           file, which vips does too): no resampler or encoder change can go below it.
# Wall times per image are printed too, for context (they follow the machine's load).
# The target is sieve <= 0.6 x vips in CPU time per image; the script exits 1 when missed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
nfiles=${1:-12}
rounds=${2:-5}
out=$root/deploy/bench/out/thumbnail
mkdir -p "$out/fair" "$out/vipsout"

if ! command -v vipsthumbnail >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y -qq libvips-tools >/dev/null
	else
		echo "run.sh: vipsthumbnail is missing (Debian: apt-get install libvips-tools)" >&2
		exit 2
	fi
fi

go build -o "$out/thumbnail" ./deploy/bench/thumbnail
files=()
for i in $(seq "$nfiles"); do
	f=$out/fair/f$i.jpg
	[ -s "$f" ] || "$out/thumbnail" gen imagery/testdata/jolla.jpg "$f" "$i"
	files+=("$f")
done

echo "files:  $nfiles distinct 5472x3648 JPEGs of $(stat -c %s "${files[0]}") bytes (jolla.jpg upscaled, grain seed = number)"
echo "vips:   $(vipsthumbnail --vips-version 2>/dev/null || vips --version)"
echo "cpus:   $(nproc)   load: $(cut -d' ' -f1-3 /proc/loadavg)   rounds: $rounds"

# cpu_of CMD...: "wall_s cpu_s" of one run of CMD (bash's time: real, user + sys of children).
cpu_of() {
	local TIMEFORMAT='%R %U %S'
	{ time "$@" >/dev/null; } 2>&1 | awk '{printf "%s %s\n", $1, $2 + $3}'
}
vips_n() { vipsthumbnail "${files[@]}" -s 1280 -o "$out/vipsout/%s.jpg[Q=82]"; }
vips_1() { vipsthumbnail "${files[0]}" -s 1280 -o "$out/vipsout/%s.jpg[Q=82]"; }
vips_n >/dev/null # warm the page cache
: >"$out/fair-sieve.cpu"
: >"$out/fair-sieve.wall"
: >"$out/fair-vips.cpu"
: >"$out/fair-vips.wall"
: >"$out/fair-decode.cpu"
for _ in $(seq "$rounds"); do
	read -r dec_us _ < <("$out/thumbnail" decode "${files[@]}")
	echo "$dec_us" >>"$out/fair-decode.cpu"
	read -r cpu_us wall_us < <("$out/thumbnail" batch "${files[@]}")
	echo "$cpu_us" >>"$out/fair-sieve.cpu"
	echo "$wall_us" >>"$out/fair-sieve.wall"
	read -r wn cn < <(cpu_of vips_n)
	read -r w1 c1 < <(cpu_of vips_1)
	awk -v a="$cn" -v b="$c1" -v n="$nfiles" 'BEGIN {printf "%d\n", (a - b) / (n - 1) * 1e6}' >>"$out/fair-vips.cpu"
	awk -v a="$wn" -v b="$w1" -v n="$nfiles" 'BEGIN {printf "%d\n", (a - b) / (n - 1) * 1e6}' >>"$out/fair-vips.wall"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'; }
s_cpu=$(median "$out/fair-sieve.cpu")
v_cpu=$(median "$out/fair-vips.cpu")
ratio=$(awk -v a="$s_cpu" -v b="$v_cpu" 'BEGIN {printf "%.2f", a / b}')

echo
printf '%-70s %7s ms CPU  %7s ms wall\n' "vips: vipsthumbnail -s 1280, one size, $nfiles files in one process" "$v_cpu" "$(median "$out/fair-vips.wall")"
printf '%-70s %7s ms CPU  %7s ms wall   ratio %s\n' "sieve: Thumbnailer.Make, both sizes + pHash, $nfiles files in one process" "$s_cpu" "$(median "$out/fair-sieve.wall")" "$ratio"
printf '%-70s %7s ms CPU   ratio %s\n' "floor: the 1/4-scale libjpeg-turbo decode alone, no resize or encode" "$(median "$out/fair-decode.cpu")" \
	"$(awk -v a="$(median "$out/fair-decode.cpu")" -v b="$v_cpu" 'BEGIN {printf "%.2f", a / b}')"
echo "(medians of $rounds rounds, per image)"
echo
if awk -v r="$ratio" 'BEGIN {exit !(r <= 0.6)}'; then
	echo "PASS: both sizes + pHash in ${ratio}x the CPU time vipsthumbnail takes for one size (target <= 0.6)"
else
	echo "MISS: both sizes + pHash take ${ratio}x the CPU time vipsthumbnail takes for one size (target <= 0.6)"
	exit 1
fi
