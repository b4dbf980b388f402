package spec

import "math/rand/v2"

// Base62Alphabet is the alphabet of API key bodies: the ASCII letters and
// digits. The suites draw unknown but well-formed keys from it; the
// reference writes its secrets in it.
const Base62Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomBase62 draws n random characters of Base62Alphabet (math/rand/v2),
// for unknown but well-formed keys: never for a secret.
func RandomBase62(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = Base62Alphabet[rand.IntN(len(Base62Alphabet))]
	}
	return string(b)
}
