package spec

import "testing"

// SPEC.md level discipline for error bodies: seed-given bodies MUST carry
// the seed's fields and values, extra fields allowed; ref-defined bodies
// MUST only be a JSON object; the exact shape (Match) is the SHOULD part.
func TestErrorBodyLevels(t *testing.T) {
	robo401 := MustGet(Roboticks).Err401
	robo429 := MustGet(Roboticks).Err429
	iot429 := MustGet(Iotistica).Err429
	for _, tt := range []struct {
		name          string
		body          ErrorBody
		json          string
		required, all bool
		extra         int
	}{
		{"seed body exact", robo401, `{"detail":"Could not validate credentials"}`, true, true, 0},
		{"seed body with an extra field", robo401, `{"detail":"Could not validate credentials","statusCode":401}`, true, false, 1},
		{"seed body wrong value", robo401, `{"detail":"nope"}`, false, false, 0},
		{"seed body field missing", robo401, `{"message":"Could not validate credentials"}`, false, false, 1},
		{"seed 429 retry_after not an integer", robo429, `{"detail":"Rate limit exceeded. Try again in 3 seconds.","retry_after":"3"}`, false, false, 0},
		{"seed 429 retry_after float", robo429, `{"detail":"Rate limit exceeded. Try again in 3 seconds.","retry_after":3.5}`, false, false, 0},
		{"ref body camelCase", iot429, `{"error":"Too Many Requests","message":"slow down","retryAfter":3}`, true, false, 1},
		{"ref body any object", iot429, `{"msg":"x"}`, true, false, 1},
		{"ref body not an object", iot429, `["x"]`, false, false, 0},
		{"ref body null", iot429, `null`, false, false, 0},
		{"not JSON", robo401, `<html>`, false, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			extra, err := tt.body.MatchRequired([]byte(tt.json))
			if (err == nil) != tt.required {
				t.Errorf("MatchRequired: err %v, want ok=%v", err, tt.required)
			}
			if err == nil && len(extra) != tt.extra {
				t.Errorf("extra %v, want %d", extra, tt.extra)
			}
			if got := tt.body.Match([]byte(tt.json)) == nil; got != tt.all {
				t.Errorf("Match: ok=%v, want %v", got, tt.all)
			}
		})
	}
}
