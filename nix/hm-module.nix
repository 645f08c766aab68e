# Home Manager module for nbs: installs it for the user (`nbs build home`, `nbs check`) and writes
# the user's config, which nbs uses when the working directory has no nbs.config.*.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.programs.nbs;
  json = pkgs.formats.json { };
in
{
  options.programs.nbs = {
    enable = lib.mkEnableOption "nbs, pre-deploy checks, recorded rebuilds and machine status for NixOS flakes";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalMD "nbs from this flake, built with the user's nixpkgs";
      description = "The nbs package to install.";
    };

    settings = lib.mkOption {
      inherit (json) type;
      default = { };
      example = lib.literalExpression ''
        {
          flake = "''${config.home.homeDirectory}/src/dotfiles";
          reporters = [ "pretty" ];
        }
      '';
      description = ''
        The user's nbs config, written to {file}`$XDG_CONFIG_HOME/nbs/nbs.config.json` when not
        empty. nbs uses it when the working directory has no `nbs.config.*`, before the machine's
        {file}`/etc/nbs/nbs.config.json`; configs are never merged. Relative paths in it are
        relative to {file}`$XDG_CONFIG_HOME/nbs`.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    home.packages = [ cfg.package ];
    xdg.configFile."nbs/nbs.config.json" = lib.mkIf (cfg.settings != { }) {
      source = json.generate "nbs.config.json" cfg.settings;
    };
  };
}
