package trap

import (
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// v3Header is what the receiver reads of an SNMPv3 message itself, before
// gosnmp sees it (RFC 3412 section 6, RFC 3414 section 2.4):
//
//	SNMPv3Message ::= SEQUENCE {
//	    msgVersion INTEGER (3),
//	    msgGlobalData SEQUENCE {
//	        msgID INTEGER, msgMaxSize INTEGER,
//	        msgFlags OCTET STRING (SIZE(1)),
//	        msgSecurityModel INTEGER },
//	    msgSecurityParameters OCTET STRING,   -- for USM, the BER of:
//	        SEQUENCE { msgAuthoritativeEngineID OCTET STRING,
//	                   msgAuthoritativeEngineBoots INTEGER,
//	                   msgAuthoritativeEngineTime INTEGER,
//	                   msgUserName OCTET STRING,
//	                   msgAuthenticationParameters OCTET STRING,
//	                   msgPrivacyParameters OCTET STRING }
//	    msgData ANY }                         -- ScopedPDU or its ciphertext
//
// The USM fields are only read when msgSecurityModel is 3.
type v3Header struct {
	flags    byte
	model    int64
	modelOff int // offset in the message of msgSecurityModel's content
	engineID []byte
	user     []byte
	authOff  int // offset in the message of msgAuthenticationParameters' content
	authLen  int
}

// Security levels, in order (the low two bits of msgFlags; 2, privacy
// without authentication, is invalid and refused).
const (
	levelNoAuthNoPriv = 0
	levelAuthNoPriv   = 1
	levelAuthPriv     = 3
)

var levelNames = map[int]string{levelNoAuthNoPriv: "noAuthNoPriv", levelAuthNoPriv: "authNoPriv", levelAuthPriv: "authPriv", 2: "privNoAuth"}

// level is the security level the message claims in msgFlags.
func (h *v3Header) level() int { return int(h.flags & 3) }

// Limits of the fields read here (RFC 3411 SnmpEngineID SIZE(5..32),
// SnmpAdminString SIZE(0..32), the longest HMAC-SHA-512 truncation 48).
const (
	maxEngineID   = 32
	maxUserName   = 32
	maxAuthParams = 48
)

var errBER = errors.New("bad BER")

// tlv reads one definite-length BER element at b[i:end]: its tag, the
// offset of its content and the offset just after it.
func tlv(b []byte, i, end int) (tag byte, content, next int, err error) {
	if i+2 > end {
		return 0, 0, 0, fmt.Errorf("%w: truncated at offset %d", errBER, i)
	}
	tag = b[i]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, fmt.Errorf("%w: multi-byte tag at offset %d", errBER, i)
	}
	n := int(b[i+1])
	content = i + 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return 0, 0, 0, fmt.Errorf("%w: length form 0x%02x at offset %d", errBER, n, i+1)
		}
		if content+k > end {
			return 0, 0, 0, fmt.Errorf("%w: truncated length at offset %d", errBER, i+1)
		}
		n = 0
		for _, c := range b[content : content+k] {
			n = n<<8 | int(c)
		}
		content += k
	}
	if n > end-content {
		return 0, 0, 0, fmt.Errorf("%w: length %d past the end at offset %d", errBER, n, i)
	}
	return tag, content, content + n, nil
}

// expect reads one element that must have tag want.
func expect(b []byte, i, end int, want byte, what string) (content, next int, err error) {
	tag, content, next, err := tlv(b, i, end)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return 0, 0, fmt.Errorf("%s: %w: tag 0x%02x, want 0x%02x", what, errBER, tag, want)
	}
	return content, next, nil
}

// berInt decodes a two's complement INTEGER of at most 8 bytes.
func berInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, fmt.Errorf("%w: INTEGER of %d bytes", errBER, len(c))
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

const (
	tagInteger  = 0x02
	tagOctets   = 0x04
	tagSequence = 0x30
)

// parseV3Header reads an SNMPv3 message's header. The message must be
// exactly one SEQUENCE; msgSecurityParameters is parsed as USM only when
// msgSecurityModel is 3. Errors wrap errBER.
func parseV3Header(b []byte) (*v3Header, error) {
	h := &v3Header{}
	c, next, err := expect(b, 0, len(b), tagSequence, "message")
	if err != nil {
		return nil, err
	}
	if next != len(b) {
		return nil, fmt.Errorf("message: %w: %d bytes after it", errBER, len(b)-next)
	}
	end := next
	c, next, err = expect(b, c, end, tagInteger, "msgVersion")
	if err != nil {
		return nil, err
	}
	if v, err := berInt(b[c:next]); err != nil || v != 3 {
		return nil, fmt.Errorf("msgVersion: %w: not 3", errBER)
	}
	gc, afterGlobal, err := expect(b, next, end, tagSequence, "msgGlobalData")
	if err != nil {
		return nil, err
	}
	i := gc
	for _, what := range []string{"msgID", "msgMaxSize"} {
		if c, i, err = expect(b, i, afterGlobal, tagInteger, what); err != nil {
			return nil, err
		}
		if _, err := berInt(b[c:i]); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if c, i, err = expect(b, i, afterGlobal, tagOctets, "msgFlags"); err != nil {
		return nil, err
	}
	if i-c != 1 {
		return nil, fmt.Errorf("msgFlags: %w: %d bytes, want 1", errBER, i-c)
	}
	h.flags = b[c]
	if c, i, err = expect(b, i, afterGlobal, tagInteger, "msgSecurityModel"); err != nil {
		return nil, err
	}
	if h.model, err = berInt(b[c:i]); err != nil {
		return nil, fmt.Errorf("msgSecurityModel: %w", err)
	}
	h.modelOff = c
	if i != afterGlobal {
		return nil, fmt.Errorf("msgGlobalData: %w: %d bytes after msgSecurityModel", errBER, afterGlobal-i)
	}
	sc, afterSec, err := expect(b, afterGlobal, end, tagOctets, "msgSecurityParameters")
	if err != nil {
		return nil, err
	}
	if afterSec >= end {
		return nil, fmt.Errorf("msgData: %w: missing", errBER)
	}
	if h.model != int64(gosnmp.UserSecurityModel) {
		return h, nil
	}
	uc, afterUSM, err := expect(b, sc, afterSec, tagSequence, "UsmSecurityParameters")
	if err != nil {
		return nil, err
	}
	if afterUSM != afterSec {
		return nil, fmt.Errorf("msgSecurityParameters: %w: %d bytes after UsmSecurityParameters", errBER, afterSec-afterUSM)
	}
	i = uc
	field := func(tag byte, what string, maxLen int) ([]byte, int, error) {
		c, n, err := expect(b, i, afterUSM, tag, what)
		if err != nil {
			return nil, 0, err
		}
		if tag == tagInteger {
			if _, err := berInt(b[c:n]); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", what, err)
			}
		} else if n-c > maxLen {
			return nil, 0, fmt.Errorf("%s: %w: %d bytes, at most %d", what, errBER, n-c, maxLen)
		}
		i = n
		return b[c:n], c, nil
	}
	if h.engineID, _, err = field(tagOctets, "msgAuthoritativeEngineID", maxEngineID); err != nil {
		return nil, err
	}
	for _, what := range []string{"msgAuthoritativeEngineBoots", "msgAuthoritativeEngineTime"} {
		if _, _, err = field(tagInteger, what, 0); err != nil {
			return nil, err
		}
	}
	if h.user, _, err = field(tagOctets, "msgUserName", maxUserName); err != nil {
		return nil, err
	}
	var auth []byte
	if auth, h.authOff, err = field(tagOctets, "msgAuthenticationParameters", maxAuthParams); err != nil {
		return nil, err
	}
	h.authLen = len(auth)
	if _, _, err = field(tagOctets, "msgPrivacyParameters", 32); err != nil {
		return nil, err
	}
	if i != afterUSM {
		return nil, fmt.Errorf("UsmSecurityParameters: %w: %d bytes after msgPrivacyParameters", errBER, afterUSM-i)
	}
	return h, nil
}

// digestLen is the length of the truncated HMAC each authentication
// protocol puts in msgAuthenticationParameters (RFC 3414, RFC 7860).
func digestLen(p gosnmp.SnmpV3AuthProtocol) int {
	switch p {
	case gosnmp.MD5, gosnmp.SHA:
		return 12
	case gosnmp.SHA224:
		return 16
	case gosnmp.SHA256:
		return 24
	case gosnmp.SHA384:
		return 32
	case gosnmp.SHA512:
		return 48
	}
	return 0
}

// v3User is a configured user as the decoder checks it.
type v3User struct {
	auth     gosnmp.SnmpV3AuthProtocol
	pass     string
	minLevel int
}

// verifyAuth checks msgAuthenticationParameters: the HMAC of the whole
// message with that field zeroed, under the user's key localized to the
// message's msgAuthoritativeEngineID (RFC 3414 sections 6.3.2 and 7.3.2,
// RFC 7860 section 4.2.2). scratch is reused between calls. The receiver
// checks this itself rather than trusting gosnmp to: gosnmp v1.47.0
// authenticates only when msgSecurityModel is 3 and only when msgFlags ask
// for it, and on its own would localize the privacy key (a 1 MB hash, kept
// in a process-wide cache, for AES with the Reeder key extension) for
// every new engine ID before authenticating anything.
func verifyAuth(b []byte, h *v3Header, u *v3User, scratch *[]byte) error {
	n := digestLen(u.auth)
	if n == 0 || h.authLen != n {
		return fmt.Errorf("%w: msgAuthenticationParameters of %d bytes, %s needs %d", ErrAuth, h.authLen, u.auth, n)
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(h.engineID),
		AuthenticationProtocol:   u.auth,
		AuthenticationPassphrase: u.pass,
		PrivacyProtocol:          gosnmp.NoPriv,
	}
	if err := sp.InitSecurityKeys(); err != nil || len(sp.SecretKey) == 0 {
		return fmt.Errorf("%w: cannot localize the key: %v", ErrAuth, err)
	}
	*scratch = append((*scratch)[:0], b...)
	msg := *scratch
	clear(msg[h.authOff : h.authOff+n])
	mac := hmac.New(u.auth.HashType().New, sp.SecretKey)
	mac.Write(msg)
	sum := mac.Sum(nil)[:n]
	if subtle.ConstantTimeCompare(sum, b[h.authOff:h.authOff+n]) != 1 {
		return fmt.Errorf("%w: wrong digest", ErrAuth)
	}
	return nil
}
