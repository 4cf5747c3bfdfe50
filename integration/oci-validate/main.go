// oci-validate checks OCI bundles with the opencontainers runtime-tools validator (Debian's
// golang-github-opencontainers-runtime-tools-dev): every check but two. The JSON schema
// check downloads the schema (the tests check it against the local runtime-spec copy), and
// the version check knows only runtime-spec 1.0.2 (the bundles say 1.1.0).
//
// Usage: oci-validate BUNDLE... ; prints one line per problem, exits 1 if there are any.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-multierror"
	"github.com/opencontainers/runtime-tools/validate"
)

func main() {
	failed := false
	for _, bundle := range os.Args[1:] {
		v, err := validate.NewValidatorFromPath(bundle, false, "linux")
		if err != nil {
			fmt.Printf("%s: %v\n", bundle, err)
			failed = true
			continue
		}
		checks := []func() error{
			v.CheckPlatform, v.CheckRoot, v.CheckMandatoryFields, v.CheckMounts, v.CheckProcess, v.CheckLinux, v.CheckAnnotations, v.CheckHooks,
		}
		for _, check := range checks {
			err := check()
			if merr, ok := err.(*multierror.Error); ok {
				err = merr.ErrorOrNil()
				if err != nil {
					for _, e := range merr.Errors {
						fmt.Printf("%s: %v\n", bundle, e)
					}
					failed = true
				}
				continue
			}
			if err != nil {
				fmt.Printf("%s: %v\n", bundle, err)
				failed = true
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
