// Package udisks is a small client of UDisks2 over the D-Bus system bus:
// find the object of a block device, unmount its file system, delete a
// loop device, power a drive off. It is how sure ejects for a desktop user
// without root: polkit lets the active session do these through udisksd.
package udisks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	service      = "org.freedesktop.UDisks2"
	root         = "/org/freedesktop/UDisks2"
	ifBlock      = service + ".Block"
	ifFilesystem = service + ".Filesystem"
	ifLoop       = service + ".Loop"
	ifPartition  = service + ".Partition"
	ifDrive      = service + ".Drive"
)

// ErrNotFound means UDisks2 has no object for the device (yet: it learns
// of new devices through udev, a moment after the kernel).
var ErrNotFound = errors.New("UDisks2 does not know this device")

// ErrBusy matches the error UDisks2 returns when a file system is in use.
var ErrBusy = errors.New("device is busy")

// ErrNotAuthorized matches a refusal by polkit.
var ErrNotAuthorized = errors.New("not authorized")

// Error is a method call UDisks2 answered with an error.
type Error struct {
	Op      string // "Filesystem.Unmount"
	Device  string // "/dev/sdb1"
	Name    string // the D-Bus error name
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("UDisks2 %s %s: %s", e.Op, e.Device, e.Message)
}

// Is makes errors.Is(err, ErrBusy) and ErrNotAuthorized work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBusy:
		return e.Name == service+".Error.DeviceBusy"
	case ErrNotAuthorized:
		return e.Name == service+".Error.NotAuthorized" || e.Name == service+".Error.NotAuthorizedCanObtain" ||
			e.Name == service+".Error.NotAuthorizedDismissed"
	}
	return false
}

// Client is a connection to the system bus.
type Client struct {
	conn *dbus.Conn
}

// Connect opens a private connection to the system bus.
func Connect() (*Client, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("connecting to the D-Bus system bus: %w", err)
	}
	return &Client{conn: conn}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Block is a block device as UDisks2 sees it.
type Block struct {
	Object       dbus.ObjectPath
	Device       string // "/dev/loop3"
	DeviceNumber uint64 // as unix.Mkdev makes it
	Drive        dbus.ObjectPath
	Filesystem   bool     // it carries a file system UDisks2 can unmount
	MountPoints  []string // where that file system is mounted
	Loop         bool
	BackingFile  string // loop devices
	Table        dbus.ObjectPath
}

// Drive is a drive (a USB stick, a disk) as UDisks2 sees it.
type Drive struct {
	Object      dbus.ObjectPath
	Vendor      string
	Model       string
	CanPowerOff bool
	Ejectable   bool
	Removable   bool
}

type objects map[dbus.ObjectPath]map[string]map[string]dbus.Variant

func (c *Client) objects(ctx context.Context) (objects, error) {
	var objs objects
	err := c.conn.Object(service, root).CallWithContext(ctx, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return nil, fmt.Errorf("UDisks2 GetManagedObjects: %w", err)
	}
	return objs, nil
}

// Blocks lists every block device UDisks2 knows.
func (c *Client) Blocks(ctx context.Context) ([]Block, error) {
	objs, err := c.objects(ctx)
	if err != nil {
		return nil, err
	}
	var out []Block
	for path, ifs := range objs {
		if b, ok := ifs[ifBlock]; ok {
			out = append(out, block(path, ifs, b))
		}
	}
	slices.SortFunc(out, func(a, b Block) int { return strings.Compare(string(a.Object), string(b.Object)) })
	return out, nil
}

func block(path dbus.ObjectPath, ifs map[string]map[string]dbus.Variant, b map[string]dbus.Variant) Block {
	out := Block{Object: path}
	out.Device = bytesString(b["Device"])
	out.DeviceNumber, _ = b["DeviceNumber"].Value().(uint64)
	out.Drive, _ = b["Drive"].Value().(dbus.ObjectPath)
	if fs, ok := ifs[ifFilesystem]; ok {
		out.Filesystem = true
		if mps, ok := fs["MountPoints"].Value().([][]byte); ok {
			for _, mp := range mps {
				out.MountPoints = append(out.MountPoints, strings.TrimRight(string(mp), "\x00"))
			}
		}
	}
	if l, ok := ifs[ifLoop]; ok {
		out.Loop = true
		out.BackingFile = bytesString(l["BackingFile"])
	}
	if p, ok := ifs[ifPartition]; ok {
		out.Table, _ = p["Table"].Value().(dbus.ObjectPath)
	}
	return out
}

// bytesString reads UDisks2's NUL-terminated byte-array strings.
func bytesString(v dbus.Variant) string {
	b, _ := v.Value().([]byte)
	return strings.TrimRight(string(b), "\x00")
}

// BlockByNumber finds the block device with device number dev.
func (c *Client) BlockByNumber(ctx context.Context, dev uint64) (Block, error) {
	bs, err := c.Blocks(ctx)
	if err != nil {
		return Block{}, err
	}
	for _, b := range bs {
		if b.DeviceNumber == dev {
			return b, nil
		}
	}
	return Block{}, ErrNotFound
}

// Drive reads the drive object at path.
func (c *Client) Drive(ctx context.Context, path dbus.ObjectPath) (Drive, error) {
	var props map[string]dbus.Variant
	err := c.conn.Object(service, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, ifDrive).Store(&props)
	if err != nil {
		return Drive{}, fmt.Errorf("UDisks2 drive %s: %w", path, err)
	}
	d := Drive{Object: path}
	d.Vendor, _ = props["Vendor"].Value().(string)
	d.Model, _ = props["Model"].Value().(string)
	d.CanPowerOff, _ = props["CanPowerOff"].Value().(bool)
	d.Ejectable, _ = props["Ejectable"].Value().(bool)
	d.Removable, _ = props["Removable"].Value().(bool)
	return d, nil
}

// Unmount unmounts the file system of b (Filesystem.Unmount), never by
// force: a busy file system stays mounted and the error matches ErrBusy.
func (c *Client) Unmount(ctx context.Context, b Block) error {
	return c.call(ctx, b.Object, ifFilesystem, "Unmount", b.Device)
}

// DeleteLoop detaches the loop device b (Loop.Delete). UDisks2 only marks
// a device still open elsewhere for detaching at its last close: check
// the device afterwards.
func (c *Client) DeleteLoop(ctx context.Context, b Block) error {
	return c.call(ctx, b.Object, ifLoop, "Delete", b.Device)
}

// PowerOff powers the drive off (Drive.PowerOff): UDisks2 flushes its
// cache, stops it and cuts the power of its USB port.
func (c *Client) PowerOff(ctx context.Context, d Drive) error {
	return c.call(ctx, d.Object, ifDrive, "PowerOff", string(d.Object))
}

// call calls a UDisks2 method that takes only an options dictionary.
func (c *Client) call(ctx context.Context, obj dbus.ObjectPath, iface, method, device string) error {
	err := c.conn.Object(service, obj).CallWithContext(ctx, iface+"."+method, 0, map[string]dbus.Variant{}).Err
	if err == nil {
		return nil
	}
	var de dbus.Error
	if errors.As(err, &de) {
		msg := de.Error()
		if len(de.Body) > 0 {
			if s, ok := de.Body[0].(string); ok {
				msg = s
			}
		}
		return &Error{Op: strings.TrimPrefix(iface, service+".") + "." + method, Device: device, Name: de.Name, Message: msg}
	}
	return fmt.Errorf("UDisks2 %s.%s %s: %w", strings.TrimPrefix(iface, service+"."), method, device, err)
}
