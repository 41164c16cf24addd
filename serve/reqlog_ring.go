package serve

// The ring file of one model's request log.
//
// Layout: a 64-byte header, then a data area of fixed size that records
// fill from offset 0 and wrap around.
//
//	header  0  magic "MLBXRLOG"
//	        8  u32 format version (1)
//	       16  u64 size of the data area
//	       24  u64 head: data offset of the next record
//	       32  u64 lap end: where the previous lap's records end (0: none)
//	       40  u64 next sequence number (the first record is 1)
//	       48  u32 CRC-32C of bytes 0..48
//	record  0  u32 magic "RLG1"
//	        4  u32 payload length p
//	        8  u64 sequence number
//	       16  u32 CRC-32C of bytes 4..16 and the payload
//	       20  payload (a RequestEntry as JSON)
//	     20+p  u32 record size (24+p), so records can be read backwards
//
// All integers are little-endian. A record that does not fit before the
// end of the data area goes to offset 0; the previous lap's records that
// start at or after the head are still readable, newest last.
//
// Reading walks backwards from the head: each step reads the size trailer
// before the current position, and accepts the record only if its magic,
// length, CRC and sequence number (exactly one less than the last) agree.
// The walk stops at the first record that does not, so a torn or
// overwritten record ends the history instead of producing garbage.
//
// Durability: records go to the page cache as they are written. A
// checkpoint fsyncs the data and then writes the header, so the header
// never points past durable data. At open, the head rolls forward over
// the records written after the last checkpoint (each must carry the next
// sequence number and a good CRC); a torn record at the head ends the roll
// and is overwritten by the next write. Checkpoints happen every second
// while there are writes, after every half ring of bytes, and at close.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

const (
	ringHeaderSize = 64
	ringVersion    = 1
	recordOverhead = 24
	recordMagic    = "RLG1"
	ringMagic      = "MLBXRLOG"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type ring struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64 // data area

	head, lapEnd int64
	nextSeq      uint64

	pend   []byte // records appended but not yet written, from pendAt
	pendAt int64
	dirty  int64 // bytes written since the last checkpoint
	buf    []byte
}

// openRing opens or creates the ring file at path with a data area of
// total-ringHeaderSize bytes. A file of another size is rewritten at the
// new size, keeping its newest records; a file whose header is unreadable
// starts over.
func openRing(path string, total int64) (*ring, error) {
	size := total - ringHeaderSize
	r, err := openRingFile(path, size)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, errRingSize) {
		return nil, err
	}
	return resizeRing(path, size)
}

var errRingSize = errors.New("ring size differs")

func openRingFile(path string, size int64) (*ring, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("serve: request log: %w", err)
	}
	r := &ring{f: f, path: path, size: size}
	st, err := f.Stat()
	if err == nil {
		if st.Size() == 0 {
			err = r.reset()
		} else if err = r.readHeader(); err == nil && r.size != size {
			err = errRingSize
		} else if err == nil && st.Size() < ringHeaderSize+r.size {
			err = errBadRing
		}
	}
	if errors.Is(err, errBadRing) {
		err = r.reset()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	r.rollForward()
	return r, nil
}

var errBadRing = errors.New("bad ring header")

// reset makes r an empty ring of r.size bytes.
func (r *ring) reset() error {
	r.head, r.lapEnd, r.nextSeq = 0, 0, 1
	if err := r.f.Truncate(0); err != nil {
		return err
	}
	if err := r.f.Truncate(ringHeaderSize + r.size); err != nil {
		return err
	}
	if err := r.writeHeader(); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *ring) readHeader() error {
	var h [ringHeaderSize]byte
	if _, err := r.f.ReadAt(h[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return errBadRing
		}
		return err
	}
	le := binary.LittleEndian
	if string(h[:8]) != ringMagic || le.Uint32(h[8:]) != ringVersion || le.Uint32(h[48:]) != crc32.Checksum(h[:48], castagnoli) {
		return errBadRing
	}
	size, head, lapEnd, seq := int64(le.Uint64(h[16:])), int64(le.Uint64(h[24:])), int64(le.Uint64(h[32:])), le.Uint64(h[40:])
	if size < recordOverhead || head < 0 || head > size || lapEnd < 0 || lapEnd > size || seq == 0 {
		return errBadRing
	}
	r.size, r.head, r.lapEnd, r.nextSeq = size, head, lapEnd, seq
	return nil
}

func (r *ring) writeHeader() error {
	var h [ringHeaderSize]byte
	le := binary.LittleEndian
	copy(h[:], ringMagic)
	le.PutUint32(h[8:], ringVersion)
	le.PutUint64(h[16:], uint64(r.size))
	le.PutUint64(h[24:], uint64(r.head))
	le.PutUint64(h[32:], uint64(r.lapEnd))
	le.PutUint64(h[40:], r.nextSeq)
	le.PutUint32(h[48:], crc32.Checksum(h[:48], castagnoli))
	_, err := r.f.WriteAt(h[:], 0)
	return err
}

// rollForward advances the head over records written after the last
// checkpoint.
func (r *ring) rollForward() {
	for {
		if n := r.recordAt(r.head, r.nextSeq); n > 0 {
			r.head += n
			r.nextSeq++
			continue
		}
		if r.head > 0 {
			if n := r.recordAt(0, r.nextSeq); n > 0 {
				r.lapEnd, r.head = r.head, n
				r.nextSeq++
				continue
			}
		}
		return
	}
}

// recordAt returns the size of the record at data offset pos if it is
// intact and has sequence number seq, else 0.
func (r *ring) recordAt(pos int64, seq uint64) int64 {
	if pos < 0 || pos+recordOverhead > r.size {
		return 0
	}
	var h [20]byte
	if _, err := r.f.ReadAt(h[:], ringHeaderSize+pos); err != nil {
		return 0
	}
	n := recordOverhead + int64(binary.LittleEndian.Uint32(h[4:]))
	if string(h[:4]) != recordMagic || pos+n > r.size || binary.LittleEndian.Uint64(h[8:]) != seq {
		return 0
	}
	if _, ok := r.readRecord(pos, n, seq); !ok {
		return 0
	}
	return n
}

// readRecord reads and checks the n-byte record at pos; the payload it
// returns is valid until the next call.
func (r *ring) readRecord(pos, n int64, seq uint64) ([]byte, bool) {
	if n < recordOverhead || pos < 0 || pos+n > r.size {
		return nil, false
	}
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := r.f.ReadAt(b, ringHeaderSize+pos); err != nil {
		return nil, false
	}
	le := binary.LittleEndian
	p := int64(le.Uint32(b[4:]))
	if string(b[:4]) != recordMagic || p != n-recordOverhead || le.Uint64(b[8:]) != seq ||
		int64(le.Uint32(b[n-4:])) != n {
		return nil, false
	}
	crc := crc32.Update(crc32.Checksum(b[4:16], castagnoli), castagnoli, b[20:n-4])
	if le.Uint32(b[16:]) != crc {
		return nil, false
	}
	return b[20 : n-4], true
}

// append adds a record; it is written by the next flush.
func (r *ring) append(payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := int64(recordOverhead + len(payload))
	if n > r.size {
		return fmt.Errorf("serve: request log record of %d bytes exceeds the ring", n)
	}
	if r.head+n > r.size {
		if err := r.flushLocked(); err != nil {
			return err
		}
		r.lapEnd, r.head = r.head, 0
	}
	if len(r.pend) == 0 {
		r.pendAt = r.head
	}
	le := binary.LittleEndian
	at := len(r.pend)
	r.pend = append(r.pend, recordMagic...)
	r.pend = le.AppendUint32(r.pend, uint32(len(payload)))
	r.pend = le.AppendUint64(r.pend, r.nextSeq)
	crc := crc32.Update(crc32.Checksum(r.pend[at+4:at+16], castagnoli), castagnoli, payload)
	r.pend = le.AppendUint32(r.pend, crc)
	r.pend = append(r.pend, payload...)
	r.pend = le.AppendUint32(r.pend, uint32(n))
	r.head += n
	r.nextSeq++
	return nil
}

// flush writes the appended records.
func (r *ring) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flushLocked(); err != nil {
		return err
	}
	if r.dirty >= r.size/2 {
		return r.checkpointLocked(false)
	}
	return nil
}

func (r *ring) flushLocked() error {
	if len(r.pend) == 0 {
		return nil
	}
	_, err := r.f.WriteAt(r.pend, ringHeaderSize+r.pendAt)
	r.dirty += int64(len(r.pend))
	r.pend = r.pend[:0]
	if cap(r.pend) > 1<<20 {
		r.pend = nil
	}
	return err
}

// checkpoint fsyncs the data written since the last one and records the
// head in the header; final also fsyncs the header.
func (r *ring) checkpoint(final bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checkpointLocked(final)
}

func (r *ring) checkpointLocked(final bool) error {
	if err := r.flushLocked(); err != nil {
		return err
	}
	if r.dirty == 0 && !final {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return err
	}
	r.dirty = 0
	if err := r.writeHeader(); err != nil {
		return err
	}
	if final {
		return r.f.Sync()
	}
	return nil
}

// walk calls fn with each record's payload, newest first, until fn
// returns false or the history ends. The payload is valid during the call.
func (r *ring) walk(fn func(payload []byte) bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flushLocked(); err != nil {
		return err
	}
	pos, seq, lowest, wrapped := r.head, r.nextSeq-1, int64(0), false
	var t [4]byte
	for seq > 0 {
		if pos <= lowest {
			if wrapped || r.lapEnd <= r.head {
				return nil
			}
			// Continue in the previous lap, down to the current head.
			wrapped, pos, lowest = true, r.lapEnd, r.head
			continue
		}
		if pos-lowest < recordOverhead {
			return nil
		}
		if _, err := r.f.ReadAt(t[:], ringHeaderSize+pos-4); err != nil {
			return err
		}
		n := int64(binary.LittleEndian.Uint32(t[:]))
		if n < recordOverhead || pos-n < lowest {
			return nil
		}
		payload, ok := r.readRecord(pos-n, n, seq)
		if !ok || !fn(payload) {
			return nil
		}
		pos -= n
		seq--
	}
	return nil
}

func (r *ring) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.checkpointLocked(true)
	return errors.Join(err, r.f.Close())
}

// resizeRing rewrites the ring at path with a data area of size bytes,
// keeping the newest records that fit.
func resizeRing(path string, size int64) (*ring, error) {
	old, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	o := &ring{f: old, path: path}
	if err := o.readHeader(); err != nil {
		old.Close()
		return nil, err
	}
	o.rollForward()
	var payloads [][]byte
	var total int64
	_ = o.walk(func(p []byte) bool {
		total += int64(len(p)) + recordOverhead
		if total > size {
			return false
		}
		payloads = append(payloads, bytes.Clone(p))
		return true
	})
	seq := o.nextSeq
	old.Close()

	tmp := path + ".resize"
	os.Remove(tmp)
	n, err := openRingFile(tmp, size)
	if err != nil {
		return nil, err
	}
	n.nextSeq = seq - uint64(len(payloads)) // keep the numbering
	for i := len(payloads) - 1; i >= 0; i-- {
		if err = n.append(payloads[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = n.checkpoint(true)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		n.close()
		os.Remove(tmp)
		return nil, err
	}
	n.path = path
	return n, nil
}
