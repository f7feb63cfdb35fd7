# SPDX-License-Identifier: MIT
# bash completion for autoprocsd(8)
_autoprocsd()
{
        local cur prev words cword
        _init_completion || return
        case $prev in
        --policy)
                COMPREPLY=($(compgen -W "go125 ceil floor automaxprocs" -- "$cur"))
                return ;;
        --log-level)
                COMPREPLY=($(compgen -W "err warning notice info debug" -- "$cur"))
                return ;;
        --target)
                COMPREPLY=($(compgen -W "self pid: cgroup: root: comm: kubepods kubepods: cgroup-tree:" -- "$cur"))
                compopt -o nospace
                return ;;
        --publish | --pod-logs)
                _filedir -d
                return ;;
        --config)
                _filedir
                return ;;
        --listen | --interval)
                return ;;
        esac
        COMPREPLY=($(compgen -W "--listen --target --interval --policy --publish --pod-logs --config
                --log-level --help --version" -- "$cur"))
} && complete -F _autoprocsd autoprocsd
