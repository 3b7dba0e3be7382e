package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// headerLen is the record header: payload length and CRC-32C.
const headerLen = 8

// fixedLen is the payload's fixed part: seq, time, two lengths.
const fixedLen = 8 + 8 + 2 + 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the record reader.
var (
	// errTorn: the record is cut short (the end of the file inside it).
	errTorn = errors.New("spool: record cut short")
	// errCorrupt: the record's CRC or layout is wrong.
	errCorrupt = errors.New("spool: corrupt record")
)

// Msg is what a producer appends.
type Msg struct {
	// Subject the message is published on.
	Subject string
	// MsgID is the stable message id (Nats-Msg-Id).
	MsgID string
	Data  []byte
}

// Entry is a spooled message with its sequence and the time it was
// appended.
type Entry struct {
	Seq  uint64
	Time time.Time
	Msg
}

// recordSize is the size on disk of m's record.
func recordSize(m *Msg) int {
	return headerLen + fixedLen + len(m.Subject) + len(m.MsgID) + len(m.Data)
}

// appendRecord appends the record of m with seq and t to b.
func appendRecord(b []byte, seq uint64, t time.Time, m *Msg) []byte {
	start := len(b)
	n := fixedLen + len(m.Subject) + len(m.MsgID) + len(m.Data)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0) // CRC, set below
	p := len(b)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(t.UnixNano()))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Subject)))
	b = append(b, m.Subject...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.MsgID)))
	b = append(b, m.MsgID...)
	b = append(b, m.Data...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[p:], castagnoli))
	return b
}

// readRecord reads one record from r, whose payload may be at most max
// bytes. It returns io.EOF at a clean end, errTorn when the data ends
// inside a record, errCorrupt for a wrong CRC or layout. n is the record's
// size on disk.
func readRecord(r io.Reader, max int, buf []byte) (e Entry, n int, _ []byte, err error) {
	var h [headerLen]byte
	if k, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return e, 0, buf, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return e, k, buf, errTorn
		}
		return e, 0, buf, err
	}
	size := int(binary.LittleEndian.Uint32(h[:4]))
	if size < fixedLen || size > max {
		return e, 0, buf, fmt.Errorf("%w: payload length %d", errCorrupt, size)
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if k, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return e, headerLen + k, buf, errTorn
		}
		return e, 0, buf, err
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return e, 0, buf, fmt.Errorf("%w: CRC mismatch", errCorrupt)
	}
	e, err = decodePayload(buf)
	return e, headerLen + size, buf, err
}

// decodePayload decodes a payload whose CRC matched; the entry does not
// share p's memory.
func decodePayload(p []byte) (Entry, error) {
	var e Entry
	e.Seq = binary.LittleEndian.Uint64(p)
	e.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(p[8:])))
	p = p[16:]
	sl := int(binary.LittleEndian.Uint16(p))
	p = p[2:]
	if sl > len(p)-2 {
		return e, fmt.Errorf("%w: subject length %d", errCorrupt, sl)
	}
	e.Subject = string(p[:sl])
	p = p[sl:]
	il := int(binary.LittleEndian.Uint16(p))
	p = p[2:]
	if il > len(p) {
		return e, fmt.Errorf("%w: id length %d", errCorrupt, il)
	}
	e.MsgID = string(p[:il])
	e.Data = append([]byte(nil), p[il:]...)
	return e, nil
}
