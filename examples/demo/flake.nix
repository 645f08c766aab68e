{
  # The demo for `node dist/cli.js check` (the README's first command): a NixOS-shaped flake with
  # no inputs (no nixpkgs download), so the built-in checks run for real on any machine with Nix.
  # Its toplevel is a plain derivation with the files nbs reads from a NixOS system:
  # nixos-version, kernel, initrd, kernel-modules.
  description = "nbs demo: an input-less NixOS-shaped configuration";
  outputs = { self }:
    let
      kernel = builtins.toFile "bzImage" "nbs demo kernel 6.1.0\n";
      initrd = builtins.toFile "initrd" "nbs demo initrd 6.1.0\n";
    in {
      nixosConfigurations.demo.config.system.build.toplevel = derivation {
        name = "nixos-system-demo-24.05.nbs";
        system = "x86_64-linux";
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        args = [ "-c" ''
          mkdir -p $out/kernel-modules/lib/modules/6.1.0
          echo 24.05.nbs > $out/nixos-version
          ln -s ${kernel} $out/kernel
          ln -s ${initrd} $out/initrd
        '' ];
      };
    };
}
