# SPDX-License-Identifier: MIT
# bash completion for autoprocs(1)
_autoprocs()
{
        local cur prev words cword cmd i
        _init_completion || return
        local sizing="--root --pid --cgroup --policy --min --reserve"
        local std="--help --version"

        cmd=
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                detect | exec | run) cmd=${words[i]}; break ;;
                esac
        done
        if [[ -z $cmd ]]; then
                COMPREPLY=($(compgen -W "detect exec run --help --version" -- "$cur"))
                return
        fi
        case $prev in
        --policy)
                COMPREPLY=($(compgen -W "go125 ceil floor automaxprocs" -- "$cur"))
                return ;;
        --root | --cgroup)
                _filedir -d
                return ;;
        --pid)
                _pids
                return ;;
        --min | --reserve | --interval | --cpus | --period-us | --cpuset)
                return ;;
        esac
        # After "--" (exec, run): the command and its arguments.
        for ((i = 1; i < cword; i++)); do
                if [[ ${words[i]} == -- ]]; then
                        _command_offset $((i + 1))
                        return
                fi
        done
        case $cmd in
        detect) COMPREPLY=($(compgen -W "--json --watch --interval $sizing $std" -- "$cur")) ;;
        exec) COMPREPLY=($(compgen -W "--force --java --quiet $sizing $std --" -- "$cur")) ;;
        run) COMPREPLY=($(compgen -W "--cpus --period-us --cpuset --json $std --" -- "$cur")) ;;
        esac
} && complete -F _autoprocs autoprocs
