/**
 * The data every reporter receives. The runner computes these once; reporters only render them.
 * Strings here are raw (as the check produced them): each format sanitises on output.
 */
export {};
