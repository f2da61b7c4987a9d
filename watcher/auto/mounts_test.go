package auto

import (
	"errors"
	"strings"
	"testing"
)

// Real mountinfo lines, one per kind of system reloadd meets.
const mountinfoText = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684084k
60 27 0:51 / /srv/nfs rw,relatime shared:30 - nfs4 fileserver:/export/home rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none,addr=10.0.0.2
61 27 0:52 / /srv/nfs3 rw,relatime shared:31 - nfs fileserver:/old rw,vers=3,rsize=65536,wsize=65536,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.2,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.0.2
62 27 0:53 / /mnt/share rw,relatime shared:32 - cifs //nas/share rw,vers=3.1.1,cache=strict,username=dev,uid=1000,forceuid,gid=1000,forcegid,addr=10.0.0.3,file_mode=0755,dir_mode=0755,soft,nounix,serverino,mapposix,rsize=4194304,wsize=4194304,bsize=1048576,echo_interval=60,actimeo=1
83 63 0:46 / /mnt/c rw,noatime - 9p C:\134 rw,dirsync,aname=drvfs;path=C:\;uid=1000;gid=1000;symlinkroot=/mnt/,mmap,access=client,msize=65536,trans=fd,rfd=5,wfd=5
84 63 0:47 / /mnt/d rw,noatime - 9p drvfs rw,aname=drvfs;path=D:\;uid=1000;gid=1000;symlinkroot=/mnt/,cache=5,access=client,msize=65536,trans=fd,rfd=8,wfd=8
45 27 0:41 / /vagrant rw,nodev,relatime - vboxsf vagrant rw
1290 1200 0:123 / /app rw,relatime - fuse.grpcfuse grpcfuse rw,user_id=0,group_id=0,allow_other,max_read=1048576
1291 1200 0:124 /Users/dev/site /site rw,relatime - fakeowner /run/host_mark/Users rw,fakeowner
1292 1200 0:125 / /code rw,relatime - virtiofs myfs rw
70 27 0:60 / /home/dev/remote rw,nosuid,nodev,relatime - fuse.sshfs dev@build:/home/dev rw,user_id=0,group_id=0
71 27 0:61 / /home/dev/bound rw,nosuid,nodev,relatime - fuse /work/src rw,user_id=0,group_id=0,default_permissions,allow_other
72 27 0:62 / /home/dev/bound2 rw,nosuid,nodev,relatime - fuse.bindfs /work/src rw,user_id=0,group_id=0,default_permissions,allow_other
600 599 0:70 / /ctr rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work
90 27 0:40 /@home /home rw,relatime shared:40 - btrfs /dev/nvme0n1p2 rw,ssd,space_cache=v2,subvolid=256,subvol=/@home
91 90 0:80 / /home/dev/app/vendor rw,relatime - fuse.sshfs dev@host:/vendor rw,user_id=1000,group_id=1000
92 27 0:81 / /mnt/with\040space rw,relatime - ext4 /dev/sdb1 rw
93 27 0:82 / /mnt/weird rw,relatime - zonefs /dev/sdc rw
`

func parsed(t *testing.T) []Mount {
	t.Helper()
	ms, err := ParseMountinfo(strings.NewReader(mountinfoText))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestParseMountinfo(t *testing.T) {
	ms := parsed(t)
	if len(ms) != 19 {
		t.Fatalf("parsed %d mounts, want 19", len(ms))
	}
	m := ms[len(ms)-2]
	if m.Point != "/mnt/with space" || m.FSType != "ext4" || m.Source != "/dev/sdb1" || m.ID != 92 || m.Parent != 27 {
		t.Errorf("escaped line parsed as %+v", m)
	}
	if ms[5].Source != `C:\` {
		t.Errorf("octal-escaped source = %q", ms[5].Source)
	}
	for _, bad := range []string{"1 2 3", "1 2 0:1 / /a rw ext4 /dev/a rw"} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMountinfo(%q) accepted a malformed line", bad)
		}
	}
	// Mount IDs are not checked (moby/sys/mountinfo reads a non-number as
	// 0): reloadd plans by mount point and type only.
	if ms, err := ParseMountinfo(strings.NewReader("x y 0:1 / /a rw - ext4 /dev/a rw")); err != nil || len(ms) != 1 || ms[0].Point != "/a" || ms[0].ID != 0 {
		t.Errorf("ParseMountinfo with non-numeric IDs = %+v, %v", ms, err)
	}
}

func TestPlan(t *testing.T) {
	ms := parsed(t)
	noStatfs := func(string) (int64, error) { return 0, errors.New("no statfs in this test") }
	tests := []struct {
		root   string
		path   string // the subtree the choice is for
		fstype string
		mode   Mode
		reason string // a word the reason must contain
	}{
		{"/srv/nfs/proj", "/srv/nfs/proj", "nfs4", Poll, "network"},
		{"/srv/nfs3", "/srv/nfs3", "nfs", Poll, "network"},
		{"/mnt/share/site", "/mnt/share/site", "cifs", Poll, "SMB"},
		{"/mnt/c/Users/dev/site", "/mnt/c/Users/dev/site", "9p", Poll, "WSL2"},
		{"/mnt/d", "/mnt/d", "9p", Poll, "9p"},
		{"/vagrant", "/vagrant", "vboxsf", Poll, "VirtualBox"},
		{"/app/src", "/app/src", "fuse.grpcfuse", Poll, "grpcfuse"},
		{"/site", "/site", "fakeowner", Poll, "Docker Desktop"},
		{"/code", "/code", "virtiofs", Poll, "virtiofs"},
		{"/home/dev/remote/x", "/home/dev/remote/x", "fuse.sshfs", Poll, "sshfs"},
		{"/home/dev/bound", "/home/dev/bound", "fuse", Poll, "FUSE"},
		{"/home/dev/bound2", "/home/dev/bound2", "fuse.bindfs", Poll, "bindfs"},
		{"/ctr/app", "/ctr/app", "overlay", Hybrid, "overlay"},
		{"/home/dev/app", "/home/dev/app", "btrfs", Native, "local"},
		{"/home/dev/app", "/home/dev/app/vendor", "fuse.sshfs", Poll, "sshfs"},
		{"/work/main", "/work/main", "ext4", Native, "local"},
		{"/dev/shm/x", "/dev/shm/x", "tmpfs", Native, "local"},
		{"/mnt/weird", "/mnt/weird", "zonefs", Hybrid, "not known"},
	}
	for _, tc := range tests {
		plan := Plan([]string{tc.root}, ms, noStatfs)
		c, ok := For(plan, tc.path)
		if !ok || c.Path != tc.path {
			t.Errorf("root %s: no choice for %s in %+v", tc.root, tc.path, plan)
			continue
		}
		if c.FSType != tc.fstype || c.Mode != tc.mode || !strings.Contains(c.Reason, tc.reason) {
			t.Errorf("root %s, %s: got %s %s %q; want %s %s (reason with %q)", tc.root, tc.path, c.FSType, c.Mode, c.Reason, tc.fstype, tc.mode, tc.reason)
		}
	}
	// A local tree with one network mount inside gets one choice for each.
	plan := Plan([]string{"/home/dev/app"}, ms, noStatfs)
	if len(plan) != 2 || plan[0].Mode != Native || plan[1].Mode != Poll {
		t.Errorf("plan for /home/dev/app = %+v, want native root plus polled vendor mount", plan)
	}
}

func TestStatfsOverridesALocalLookingType(t *testing.T) {
	ms := parsed(t)
	// mountinfo says ext4, but statfs reports FUSE: trust the kernel's answer.
	plan := Plan([]string{"/work/main"}, ms, func(string) (int64, error) { return magicFUSE, nil })
	if len(plan) != 1 || plan[0].Mode != Poll || !strings.Contains(plan[0].Reason, "statfs") {
		t.Errorf("plan = %+v", plan)
	}
}

func TestClassifyTable(t *testing.T) {
	tests := []struct {
		fstype string
		magic  int64
		want   Mode
		why    string // in the reason, if set
	}{
		{"fuse.sshfs", magicFUSE, Poll, "dir_cache=no"},
		{"ext4", magicExt4, Native, ""},
		{"xfs", magicXFS, Native, ""},
		{"btrfs", magicBtrfs, Native, ""},
		{"tmpfs", magicTmpfs, Native, ""},
		{"nfs", magicNFS, Poll, ""},
		{"cifs", magicCIFS, Poll, ""},
		{"smb3", magicSMB2, Poll, ""},
		{"9p", magicV9FS, Poll, ""},
		{"vboxsf", magicVBoxSF, Poll, ""},
		{"fuseblk", magicFUSE, Poll, ""},
		{"fuse.anything", 0, Poll, ""},
		{"ceph", magicCeph, Poll, ""},
		{"glusterfs", magicFUSE, Poll, ""},
		{"afs", magicAFS, Poll, ""},
		{"overlay", magicOverlay, Hybrid, ""},
		{"mystery", 0, Hybrid, ""},
		{"overlay", magicNFS, Poll, ""},
	}
	for _, tc := range tests {
		if got, why := Classify(tc.fstype, tc.magic); got != tc.want || why == "" || !strings.Contains(why, tc.why) {
			t.Errorf("Classify(%q, %#x) = %s %q, want %s", tc.fstype, tc.magic, got, why, tc.want)
		}
	}
}
