package target

import (
	"encoding/json"

	"github.com/unyo-ops/unyo/internal/jsondur"
)

// result is Result without its JSON methods.
type result Result

// MarshalJSON writes the duration of a check as a string ("1.2ms").
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		result
		Duration jsondur.Duration `json:"duration"`
	}{result(r), jsondur.Duration(r.Duration)})
}

// UnmarshalJSON reads the duration as a string or, as older nodes wrote
// it, integer nanoseconds.
func (r *Result) UnmarshalJSON(b []byte) error {
	w := struct {
		*result
		Duration jsondur.Duration `json:"duration"`
	}{result: (*result)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	r.Duration = w.Duration.D()
	return nil
}
