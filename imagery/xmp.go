package imagery

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// XMP namespaces whose properties ReadMetadata reads. Some writers drop or
// add the trailing slash; lookups ignore it.
const (
	nsDJI      = "http://www.dji.com/drone-dji/1.0/"
	nsParrot   = "http://www.parrot.com/drone-parrot/1.0/"
	nsPix4D    = "http://pix4d.com/camera/1.0/"
	nsSenseFly = "http://ns.sensefly.com/Camera/1.0/"
	nsFLIR     = "http://ns.flir.com/xmp/1.0/"
	nsEXIF     = "http://ns.adobe.com/exif/1.0/"
	nsTIFF     = "http://ns.adobe.com/tiff/1.0/"
	nsXMP      = "http://ns.adobe.com/xap/1.0/"
	nsRDF      = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
)

// maxXMPPacket bounds the XMP packet parsed.
const maxXMPPacket = 2 << 20

// xmpProps holds the simple (single-valued) properties of an XMP packet,
// keyed by namespace URI (without trailing slash) and local name. Both the
// attribute form (drone-dji:GimbalPitchDegree="-90.00", what DJI writes)
// and the element form (<drone-dji:GimbalPitchDegree>-90.00</...>) are read.
// A property inside a struct (Skydio's CameraOrientationNED holding Pitch,
// Yaw and Roll) is also kept under "Struct/Field", so that fields of the
// same name in different structs stay apart.
type xmpProps map[xmpName]string

type xmpName struct{ ns, local string }

func normNS(ns string) string { return strings.TrimSuffix(ns, "/") }

func (p xmpProps) get(ns, local string) (string, bool) {
	v, ok := p[xmpName{normNS(ns), local}]
	return v, ok
}

// parseXMP reads the properties of one XMP packet. A packet that breaks
// half-way keeps what came before the break and reports the error.
func parseXMP(packet []byte) (xmpProps, error) {
	props := make(xmpProps)
	if len(packet) > maxXMPPacket {
		packet = packet[:maxXMPPacket]
	}
	d := xml.NewDecoder(bytes.NewReader(packet))
	d.Strict = false
	type open struct {
		name     xml.Name
		text     strings.Builder
		children bool
	}
	var stack []*open
	// parent returns the local name of the nearest enclosing element that
	// is a property (not RDF syntax), or "".
	parent := func() string {
		for i := len(stack) - 1; i >= 0; i-- {
			if n := stack[i].name; n.Space != nsRDF && n.Space != "" && n.Space != "adobe:ns:meta/" {
				return n.Local
			}
		}
		return ""
	}
	put := func(k xmpName, v string) {
		if _, dup := props[k]; !dup {
			props[k] = v
		}
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return props, nil
		}
		if err != nil {
			return props, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 0 {
				stack[len(stack)-1].children = true
			}
			if len(stack) > 64 {
				return props, errors.New("xmp nested too deep")
			}
			for _, a := range t.Attr {
				if a.Name.Space == "" || a.Name.Space == "xmlns" || a.Name.Space == nsRDF || strings.HasPrefix(a.Name.Space, "http://www.w3.org/XML") {
					continue
				}
				v := strings.TrimSpace(a.Value)
				put(xmpName{normNS(a.Name.Space), a.Name.Local}, v)
				// An attribute of a struct element: <ns:Struct ns:Field="..."/>.
				if t.Name.Space != nsRDF && t.Name.Space != "" && t.Name.Space != "adobe:ns:meta/" {
					put(xmpName{normNS(a.Name.Space), t.Name.Local + "/" + a.Name.Local}, v)
				} else if p := parent(); p != "" {
					put(xmpName{normNS(a.Name.Space), p + "/" + a.Name.Local}, v)
				}
			}
			stack = append(stack, &open{name: t.Name})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.children || top.name.Space == nsRDF || top.name.Space == "" {
				continue
			}
			v := strings.TrimSpace(top.text.String())
			put(xmpName{normNS(top.name.Space), top.name.Local}, v)
			if p := parent(); p != "" {
				put(xmpName{normNS(top.name.Space), p + "/" + top.name.Local}, v)
			}
		}
	}
}

// findXMPPacket searches the start of a non-JPEG file (b) for an XMP
// packet (HEIF item, PNG iTXt chunk, TIFF tag 700, WebP XMP chunk).
func findXMPPacket(b []byte) []byte {
	start := bytes.Index(b, []byte("<x:xmpmeta"))
	endTag := []byte("</x:xmpmeta>")
	if start < 0 {
		start = bytes.Index(b, []byte("<rdf:RDF"))
		endTag = []byte("</rdf:RDF>")
	}
	if start < 0 {
		return nil
	}
	end := bytes.Index(b[start:], endTag)
	if end < 0 {
		return b[start:min(len(b), start+maxXMPPacket)]
	}
	return b[start : start+end+len(endTag)]
}

// findNS returns the namespace of the packet whose URI contains part
// (case-insensitive), for makers whose namespace URI varies between
// firmware versions ("drone-skydio"), or "".
func findNS(p xmpProps, part string) string {
	part = strings.ToLower(part)
	for k := range p {
		if strings.Contains(strings.ToLower(k.ns), part) {
			return k.ns
		}
	}
	return ""
}
