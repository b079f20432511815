package client

import (
	"context"
	"net/http"

	"github.com/sieve-city/sieve/internal/changes"
)

// Phone sync (GET /api/v1/sync). Go's HTTP transport asks for gzip and unpacks it, so pages
// travel compressed without the caller doing anything.

// SyncPage is one page of phone sync.
type SyncPage = changes.Page

// SyncItem is one upsert or tombstone of a sync page.
type SyncItem = changes.Item

// Sync fetches one page of phone sync after cursor ("" for a full snapshot). A cursor older
// than the server's retention is an *Error with code cursor_expired: sync again from "".
func (c *Client) Sync(ctx context.Context, cursor string) (SyncPage, error) {
	var out SyncPage
	_, err := c.do(ctx, http.MethodGet, v1+"/sync"+query{}.str("cursor", cursor).String(), nil, &out)
	return out, err
}

// SyncAll fetches pages after cursor until none has more, and returns their items in order, the
// cursor to keep for the next sync and whether the first page was a full snapshot's (reset).
func (c *Client) SyncAll(ctx context.Context, cursor string) (items []SyncItem, next string, reset bool, err error) {
	for first := true; ; first = false {
		p, err := c.Sync(ctx, cursor)
		if err != nil {
			return items, cursor, reset, err
		}
		if first {
			reset = p.Reset
		}
		items, cursor = append(items, p.Items...), p.Cursor
		if !p.HasMore {
			return items, cursor, reset, nil
		}
	}
}
