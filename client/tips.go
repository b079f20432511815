package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sieve-city/sieve/internal/tips"
)

// The public tips' resources, the server's own types.
type (
	TipSubmission   = tips.Submission
	TipPublicStatus = tips.PublicStatus
	Tip             = tips.Tip
	TipDetail       = tips.Detail
	TipMove         = tips.Move
	TipContact      = tips.Contact
	CreditListing   = tips.Listing
)

// TipReceipt is the answer to a posted tip: its tracking code, shown this once.
type TipReceipt struct {
	TrackingCode string    `json:"trackingCode"`
	Status       string    `json:"status"`
	ReceivedAt   time.Time `json:"receivedAt"`
}

// PostTip posts a tip (no login needed; a client without a session posts as the public).
func (c *Client) PostTip(ctx context.Context, s TipSubmission) (TipReceipt, error) {
	var out TipReceipt
	_, err := c.do(ctx, http.MethodPost, v1+"/tips", s, &out)
	return out, err
}

// TipStatus is the public status of a tip by its tracking code.
func (c *Client) TipStatus(ctx context.Context, code string) (TipPublicStatus, error) {
	var out TipPublicStatus
	_, err := c.do(ctx, http.MethodGet, v1+"/tips/"+url.PathEscape(code), nil, &out)
	return out, err
}

// ListTipCases is a page of the tips in the caller's area (status "" for all).
func (c *Client) ListTipCases(ctx context.Context, p PageRequest, status string) (List[Tip], error) {
	var out List[Tip]
	q := query{}.page(p).str("status", status)
	_, err := c.do(ctx, http.MethodGet, v1+"/tip-cases"+q.String(), nil, &out)
	return out, err
}

// GetTipCase is one tip with its photos and history.
func (c *Client) GetTipCase(ctx context.Context, id int64) (TipDetail, error) {
	var out TipDetail
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), nil, &out)
	return out, err
}

// MoveTipCase moves a tip along its workflow.
func (c *Client) MoveTipCase(ctx context.Context, id int64, m TipMove) (Tip, error) {
	var out Tip
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/transitions", v1, id), m, &out)
	return out, err
}

// TipCaseContact is the reporter's contact (the city office only).
func (c *Client) TipCaseContact(ctx context.Context, id int64) (TipContact, error) {
	var out TipContact
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d/contact", v1, id), nil, &out)
	return out, err
}
