package api

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/openapi"
)

// docs renders the specification as one self-contained HTML page (no scripts, no CDN: it works
// on an offline office network).
func (s *Server) docs(c echo.Context) error {
	page, err := renderDocs(openapi.Spec())
	if err != nil {
		return fmt.Errorf("api: docs: %w", err)
	}
	return c.HTMLBlob(http.StatusOK, page)
}

type docOperation struct {
	Method, Path, Summary, Description, Security string
	Params                                       []docParam
	Body                                         string
	Responses                                    []docResponse
}

type docParam struct{ Name, In, Type, Description string }

type docResponse struct{ Status, Description string }

type docTag struct {
	Name, Description string
	Ops               []docOperation
}

// renderDocs turns the YAML specification into HTML grouped by tag.
func renderDocs(spec []byte) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, err
	}
	tags := map[string]*docTag{}
	var order []string
	for _, t := range doc.Tags {
		tags[t.Name] = &docTag{Name: t.Name, Description: t.Description}
		order = append(order, t.Name)
	}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		item := doc.Paths.Value(p)
		for method, op := range item.Operations() {
			d := docOperation{Method: method, Path: p, Summary: op.Summary, Description: op.Description,
				Security: "bearer token"}
			if op.Security != nil && len(*op.Security) == 0 {
				d.Security = "none"
			}
			for _, pr := range append(item.Parameters, op.Parameters...) {
				if pr.Value == nil {
					continue
				}
				typ := ""
				if pr.Value.Schema != nil && pr.Value.Schema.Value != nil && pr.Value.Schema.Value.Type != nil {
					typ = strings.Join(pr.Value.Schema.Value.Type.Slice(), "|")
				}
				d.Params = append(d.Params, docParam{pr.Value.Name, pr.Value.In, typ, pr.Value.Description})
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				var cts []string
				for ct := range op.RequestBody.Value.Content {
					cts = append(cts, ct)
				}
				sort.Strings(cts)
				d.Body = strings.Join(cts, ", ")
			}
			if op.Responses != nil {
				for code, r := range op.Responses.Map() {
					desc := ""
					if r.Value != nil && r.Value.Description != nil {
						desc = *r.Value.Description
					}
					d.Responses = append(d.Responses, docResponse{code, desc})
				}
				sort.Slice(d.Responses, func(i, j int) bool { return d.Responses[i].Status < d.Responses[j].Status })
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			if tags[tag] == nil {
				tags[tag] = &docTag{Name: tag}
				order = append(order, tag)
			}
			tags[tag].Ops = append(tags[tag].Ops, d)
		}
	}
	var groups []docTag
	for _, name := range order {
		t := tags[name]
		sort.SliceStable(t.Ops, func(i, j int) bool {
			if t.Ops[i].Path != t.Ops[j].Path {
				return t.Ops[i].Path < t.Ops[j].Path
			}
			return t.Ops[i].Method < t.Ops[j].Method
		})
		groups = append(groups, *t)
	}
	var buf bytes.Buffer
	err = docsTemplate.Execute(&buf, map[string]any{
		"Title": doc.Info.Title, "Version": doc.Info.Version, "Description": doc.Info.Description, "Tags": groups,
	})
	return buf.Bytes(), err
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.Title}} {{.Version}}</title>
<style>
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.op{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}
.GET{color:#0a6}.POST{color:#06c}.PATCH{color:#c80}.PUT{color:#c80}.DELETE{color:#c00}
code{background:#f4f4f4;padding:0 .3em}table{border-collapse:collapse}td,th{border:1px solid #eee;padding:.2em .6em;text-align:left}
pre{white-space:pre-wrap}
</style></head><body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<pre>{{.Description}}</pre>
<p>Machine-readable: <a href="/openapi.yaml">/openapi.yaml</a></p>
{{range .Tags}}<h2 id="{{.Name}}">{{.Name}}</h2><p>{{.Description}}</p>
{{range .Ops}}<div class="op"><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}
<div><small>auth: {{.Security}}</small></div>
{{if .Description}}<pre>{{.Description}}</pre>{{end}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<div>body: <code>{{.Body}}</code></div>{{end}}
<ul>{{range .Responses}}<li><b>{{.Status}}</b> {{.Description}}</li>{{end}}</ul>
</div>{{end}}{{end}}
</body></html>`))
