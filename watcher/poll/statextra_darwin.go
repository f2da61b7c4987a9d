package poll

import (
	"io/fs"
	"syscall"
)

// statExtra returns ctime, inode and device where the platform has them.
func statExtra(fi fs.FileInfo) (ctime int64, ino, dev uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return st.Ctimespec.Sec*1e9 + st.Ctimespec.Nsec, st.Ino, uint64(st.Dev)
}
