package watcher

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaxHashSize is the largest file [HashFile] reads. Source files,
// stylesheets and images are far smaller; a file above it (a video, a disk
// image) is identified by its size and times instead of its content, so one
// huge asset cannot stall the pipeline or read gigabytes per save.
const DefaultMaxHashSize = 64 << 20

// hashBufSize is the read buffer: large enough to hash a typical source file
// in one read, small enough to keep a few in a pool.
const hashBufSize = 64 << 10

var hashBufs = sync.Pool{New: func() any { b := make([]byte, hashBufSize); return &b }}

// HashFile returns the xxhash64 of the file's content, streamed through a
// pooled buffer so memory stays constant whatever the size. If the file is
// larger than limit (limit <= 0 means [DefaultMaxHashSize]) it is not read
// and ok is false. The size returned is the number of bytes hashed.
func HashFile(path string, limit int64) (sum uint64, size int64, ok bool, err error) {
	if limit <= 0 {
		limit = DefaultMaxHashSize
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	return HashReader(f, limit)
}

// HashReader is [HashFile] for an open reader.
func HashReader(r io.Reader, limit int64) (sum uint64, size int64, ok bool, err error) {
	bp := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(bp)
	buf := *bp
	d := xxhash.New()
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			size += int64(n)
			if size > limit {
				return 0, size, false, nil
			}
			d.Write(buf[:n])
		}
		if rerr == io.EOF {
			return d.Sum64(), size, true, nil
		}
		if rerr != nil {
			return 0, size, false, fmt.Errorf("hash: %w", rerr)
		}
	}
}
