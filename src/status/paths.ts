/** Where NixOS keeps what runs and what boots (nixos/modules/system/activation). */
export const PROFILES_DIR = '/nix/var/nix/profiles'
export const CURRENT_SYSTEM = '/run/current-system'
export const BOOTED_SYSTEM = '/run/booted-system'
