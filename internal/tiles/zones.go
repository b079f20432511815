package tiles

// ZoneZoom is the zoom of the tiles' change-state zones (migration 0039): every grid cell has
// a state row per layer in each zoom-14 tile its bounding box meets. Zones are numbered in
// Morton order (zone), so the zones under a tile of zoom 14 or less are one range of numbers;
// a deeper tile reads its zoom-14 ancestor's zone.
const ZoneZoom = 14

// zone is the number of zoom-14 tile x/y: the bits of x at the even places, those of y at the
// odd ones; sieve_tile_zone in SQL (TestZonesAgree).
func zone(x, y int) int64 {
	return spread(uint32(x)) | spread(uint32(y))<<1
}

// spread puts a zero bit between any two of the low 16 bits of v.
func spread(v uint32) int64 {
	u := uint64(v & 0xFFFF)
	u = (u | u<<8) & 0x00FF00FF
	u = (u | u<<4) & 0x0F0F0F0F
	u = (u | u<<2) & 0x33333333
	u = (u | u<<1) & 0x55555555
	return int64(u)
}

// Zones returns the range [lo, hi) of the zone numbers under tile z/x/y (ValidTile): the
// zoom-14 tiles it covers, or for a deeper tile its zoom-14 ancestor. Interleaving the bits of
// x and y makes a tile's descendants at any deeper zoom one block of numbers, as long as its
// own number: 4^(14-z) zones from zone(x, y) shifted by 2·(14-z).
func Zones(z, x, y int) (lo, hi int64) {
	if z >= ZoneZoom {
		d := z - ZoneZoom
		lo = zone(x>>d, y>>d)
		return lo, lo + 1
	}
	d := 2 * (ZoneZoom - z)
	lo = zone(x, y) << d
	return lo, lo + 1<<d
}
