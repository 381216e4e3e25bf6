// Command etcd is upstream etcd's server entry point (go.etcd.io/etcd/server/v3/etcdmain),
// built from the version that go.mod pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
