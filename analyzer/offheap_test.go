package analyzer

import (
	"reflect"
	"slices"
	"testing"
)

// offHeapTypes are the types that live outside the Go heap.
var offHeapTypes = []reflect.Type{
	reflect.TypeFor[core](), reflect.TypeFor[tuple](),
	reflect.TypeFor[detail](), reflect.TypeFor[evMore](), reflect.TypeFor[tailRing](),
}

// heapPointers lists the fields of ty that could point into the Go heap:
// pointers to anything but an off-heap type, and slices, strings, maps,
// interfaces, funcs and channels.
func heapPointers(path string, ty reflect.Type) []string {
	switch ty.Kind() {
	case reflect.Pointer:
		if !slices.Contains(offHeapTypes, ty.Elem()) {
			return []string{path}
		}
	case reflect.Struct:
		var out []string
		for i := range ty.NumField() {
			fl := ty.Field(i)
			out = append(out, heapPointers(path+"."+fl.Name, fl.Type)...)
		}
		return out
	case reflect.Array:
		return heapPointers(path+"[]", ty.Elem())
	case reflect.Slice, reflect.String, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return []string{path}
	}
	return nil
}

// TestOffHeapTypes checks that what lives outside the Go heap holds no
// pointer the garbage collector would have to see.
func TestOffHeapTypes(t *testing.T) {
	for _, ty := range offHeapTypes {
		if bad := heapPointers(ty.Name(), ty); len(bad) > 0 {
			t.Errorf("%s holds pointers into the Go heap: %v", ty, bad)
		}
	}
	// The check itself finds them.
	type bad struct {
		c  *core
		f  *Flow
		s  [2]struct{ name string }
		ok bool
	}
	got := heapPointers("bad", reflect.TypeFor[bad]())
	if want := []string{"bad.f", "bad.s[].name"}; !slices.Equal(got, want) {
		t.Errorf("heapPointers(bad) = %v, want %v", got, want)
	}
}
