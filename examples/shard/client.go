package main

// The client side, used by the demo and the test: a request through one instance, what
// came of it, and a tally of outcomes by reason.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// outcome is what one client request came to.
type outcome struct {
	ok     bool
	status int    // 0 when the instance itself did not answer
	hops   string // X-Shard-Hops
	owner  string // X-Shard-Owner
	err    error
}

func (d *demo) put(via *instance, key, value string) outcome {
	return request(d.client, http.MethodPut, via.httpAddr, key, value, http.StatusNoContent)
}

// get reads key through via; the outcome is ok only if the value is want.
func (d *demo) get(via *instance, key, want string) outcome {
	return request(d.client, http.MethodGet, via.httpAddr, key, want, http.StatusOK)
}

// request sends method for key to the instance at addr: a PUT of value, or a GET
// expecting value back; want is the status of success.
func request(c *http.Client, method, addr, key, value string, want int) outcome {
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader(value)
	}
	req, err := http.NewRequest(method, "http://"+addr+"/kv/"+url.PathEscape(key), body)
	if err != nil {
		return outcome{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, hops: resp.Header.Get(headerHops), owner: resp.Header.Get(headerOwner), err: err}
	o.ok = err == nil && resp.StatusCode == want && (method == http.MethodPut || string(got) == value)
	return o
}

// tally counts outcomes: successes by hops, failures by reason.
type tally struct {
	ok, hops0, hops1 int
	misdirected      int // 421: the views of the first instance and the owner disagreed
	unreachable      int // 502: the owner did not answer
	unavailable      int // 503
	notFound         int // 404
	wrong            int // 200 with another value
	other            int // any other status, or no answer from the first instance
}

func (t *tally) add(o outcome) {
	switch {
	case o.ok:
		t.ok++
		if o.hops == "1" {
			t.hops1++
		} else {
			t.hops0++
		}
	case o.status == http.StatusMisdirectedRequest:
		t.misdirected++
	case o.status == http.StatusBadGateway:
		t.unreachable++
	case o.status == http.StatusServiceUnavailable:
		t.unavailable++
	case o.status == http.StatusNotFound:
		t.notFound++
	case o.status == http.StatusOK:
		t.wrong++
	default:
		t.other++
	}
}

func (t *tally) merge(u tally) {
	t.ok += u.ok
	t.hops0 += u.hops0
	t.hops1 += u.hops1
	t.misdirected += u.misdirected
	t.unreachable += u.unreachable
	t.unavailable += u.unavailable
	t.notFound += u.notFound
	t.wrong += u.wrong
	t.other += u.other
}

func (t *tally) failed() int {
	return t.misdirected + t.unreachable + t.unavailable + t.notFound + t.wrong + t.other
}

func (t *tally) total() int { return t.ok + t.failed() }

// why lists the failures by reason, as " (...)", or nothing when there were none.
func (t *tally) why() string {
	var parts []string
	for _, r := range []struct {
		n    int
		what string
	}{
		{t.misdirected, "421 views disagree"},
		{t.unreachable, "502 owner unreachable"},
		{t.unavailable, "503 owner unaddressable"},
		{t.notFound, "404 not found"},
		{t.wrong, "wrong value"},
		{t.other, "other"},
	} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r.n, r.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
