module github.com/sieve-city/sieve

go 1.26.3

require (
	github.com/corona10/goimagehash v1.1.0 // indirect
	github.com/disintegration/imaging v1.6.2 // indirect
	github.com/dsoprea/go-exif/v3 v3.0.1 // indirect
	github.com/dsoprea/go-logging v0.0.0-20200710184922-b02d349568dd // indirect
	github.com/dsoprea/go-utility/v2 v2.0.0-20221003172846-a3e1774ef349 // indirect
	github.com/go-errors/errors v1.4.2 // indirect
	github.com/golang/geo v0.0.0-20210211234256-740aa86cb551 // indirect
	github.com/nfnt/resize v0.0.0-20180221191011-83c6a9932646 // indirect
	github.com/pixiv/go-libjpeg v0.0.0-20190822045933-3da21a74767d // indirect
	github.com/rwcarlsen/goexif v0.0.0-20190401172101-9e8deecbddbd // indirect
	github.com/twpayne/go-geom v1.7.0 // indirect
	golang.org/x/image v0.0.0-20191009234506-e7c1f5e7dbb8 // indirect
	golang.org/x/net v0.0.0-20221002022538-bcab6841153b // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
