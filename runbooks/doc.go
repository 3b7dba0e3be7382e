// Package runbooks embeds the operator runbooks (Markdown) that incidents link
// to by id.
package runbooks
