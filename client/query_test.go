package client

import "testing"

func TestListQuery(t *testing.T) {
	for _, c := range []struct {
		limit   int
		filters []string
		want    string
	}{
		{0, nil, ""},
		{-5, []string{"name", ""}, ""},
		{20, []string{"name", "drills/leader", "month", ""}, "limit=20&name=drills%2Fleader"},
		{0, []string{"jobnet", "a b", "source", "etc"}, "jobnet=a+b&source=etc"},
	} {
		if got := listQuery(c.limit, c.filters...).Encode(); got != c.want {
			t.Errorf("listQuery(%d, %q) = %q, want %q", c.limit, c.filters, got, c.want)
		}
	}
}
