# bash completion for onnxinit (installed to share/bash-completion/completions;
# zsh has its own, _onnxinit).  Needs
# nothing but bash.
_onnxinit()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local IFS=$'\n'
    case $prev in
        -o|--output|--report|--rules|--files-from)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --output-dir)
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --preset)
            COMPREPLY=($(compgen -W $'default\ntorch\nkeras\ntransformer\nnormfree' -- "$cur")); return ;;
        --signal)
            COMPREPLY=($(compgen -W $'auto\non\noff' -- "$cur")); return ;;
        --stream)
            COMPREPLY=($(compgen -W $'1\n2\n3' -- "$cur")); return ;;
        --seed|--only|--exclude|--layer-scale|--external-threshold|-j|--threads|--backup|--shard|--max-memory)
            return ;;
    esac
    if [[ $cur == -* ]]; then
        local opts='-o --output -f --force --seed --stream --preset --signal --no-forget-bias
            --layer-scale --residual-scale --materialize --rules --only --exclude --external-data
            --external-threshold --full-encode --no-sync --json --all --strict -j --threads -r
            --recursive --output-dir --in-place --backup --files-from --skip-existing --fail-fast
            --shard --max-memory --report -q --quiet -v --verbose -h --help -V --version'
        COMPREPLY=($(IFS=$' \n\t' compgen -W "$opts" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -X '!*.onnx' -- "$cur"; compgen -d -- "$cur"))
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY+=($(compgen -W $'plan\naudit' -- "$cur"))
    fi
}
complete -o filenames -F _onnxinit onnxinit
