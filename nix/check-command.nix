# The argv of the nbs-check service after the `nbs` executable: one place, so the NixOS module
# runs exactly the command line the CLI tests run (test/unit/nix-files.test.ts evaluates this
# file with plain nix-instantiate and runs the result through the built CLI). Builtins only.
{
  # the machine's config file the module writes (programs.nbs.settings)
  configFile,
  # folder for the JUnit, JSON and TAP reports of the last run
  reportDir,
  # node_exporter textfile to write, or null
  prometheusFile ? null,
  extraArgs ? [ ],
}:
[
  "check"
  "--config"
  configFile
  "--reporter"
  "junit:${reportDir}/junit.xml"
  "--reporter"
  "json:${reportDir}/report.json"
  "--reporter"
  "tap:${reportDir}/report.tap"
  # the journal keeps the human-readable output
  "--reporter"
  "pretty"
]
++ (if prometheusFile == null then [ ] else [ "--reporter" "prometheus:${prometheusFile}" ])
++ extraArgs
