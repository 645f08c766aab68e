{
  description = "nbs (nixos-build-status): pre-deploy checks, recorded rebuilds and machine status for NixOS flakes";

  # No flake.lock is committed: follow your own nixpkgs, which also builds nbs with it:
  #   inputs.nbs.inputs.nixpkgs.follows = "nixpkgs";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # darwin: the CLI and `nbs status --on` over ssh work there; the modules are NixOS and Home Manager
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        nbs = pkgs.callPackage ./nix/package.nix { };
        default = nbs;
      });

      # `nix run github:OWNER/nbs -- check`
      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.nbs;
          meta.description = "Run nbs";
        };
      });

      # `pkgs.nbs`, built with the nixpkgs it is applied to
      overlays.default = final: _prev: { nbs = final.callPackage ./nix/package.nix { }; };

      # programs.nbs and services.nbs.check; the package defaults to nbs built with the system's nixpkgs
      nixosModules.default = ./nix/nixos-module.nix;

      # programs.nbs for Home Manager; `homeManagerModules` is the older name some configs use
      homeModules.default = ./nix/hm-module.nix;
      homeManagerModules = self.homeModules;

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs # nixpkgs' current Node.js (nbs needs 20.19 or later)
            pkgs.nix
            pkgs.git
            pkgs.jq
            pkgs.libxml2 # xmllint, for the JUnit tests
            pkgs.perl # prove, the TAP consumer tests
            pkgs.openssh # sshd and ssh for the remote-host tests
            (pkgs.prometheus.cli or pkgs.prometheus) # promtool check metrics
            pkgs.prometheus-node-exporter
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt); # RFC 166 style
    };
}
