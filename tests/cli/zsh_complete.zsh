# Print, one per line, the completions zsh offers after typing "$2" and Tab, with
# the completion functions of directory $1 first on $fpath.  It drives a real
# interactive zsh on a pseudo-terminal and records every match compadd is given.
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'bindkey "^I" complete-word; compprefuncs=(_c_begin); comppostfuncs=(_c_end)'
# The markers are split in the typed text so the echo of this line never matches them.
zpty -w z '_c_begin() { print -r -- "<<""BEGIN>>" }; _c_end() { print -r -- "<<""END>>"; exit }'
zpty -w z 'compadd() { local -a _m; builtin compadd -O _m "$@"; print -rl -- "${_m[@]/#/M:}"; builtin compadd "$@" }'
zpty -n -w z "$2"$'\t'
zpty -r z out '*<<END>>*'
print -r -- "${out##*<<BEGIN>>}" | tr -d '\r' | grep '^M:' | cut -c3- | sort -u
